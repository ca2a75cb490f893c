"""Asset checks: the invariants of each stage, run inside the asset on what it just wrote, with the
config it ran with. Every check is blocking: when one fails, nothing downstream runs on the data."""


import dagster as dg
import numpy as np
import polars as pl

from pipeline.contract import StageFiles
from pipeline.graph import Graph
from pipeline.io import read_json
from pipeline.sessions import rule_violations_file
from pipeline.splits import parse_cutoff
from pipeline.walks import read_walks

WALKS_CHECKED = 5_000


def spec(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=True)


RECONCILE = spec("raw_events_reconcile", "raw_events", "Every input row is accepted or quarantined: accepted + quarantined "
                 "= read, the files hold what the counts say, and no whole file was rejected uncounted.")
SESSION_RULE = spec("sessions_obey_rule", "sessions", "Consecutive events of a session are closer than the gap on one device; "
                    "consecutive sessions of a user are not.")
NO_COLD_START = spec("no_cold_start_songs_in_test", "splits", "No test event has a song that never occurs in train.")
SPLIT_SIDES = spec("split_sides_of_cutoff", "splits", "Every train event is before the cutoff, every test event at or after it.")


def walk_spec(network: str) -> dg.AssetCheckSpec:
    return spec(f"walks_{network}_follow_edges", f"walks_{network}",
                f"In the first {WALKS_CHECKED:,} walks every consecutive pair of vertices is an edge.")


def embedding_spec(name: str) -> dg.AssetCheckSpec:
    return spec(f"{name}_finite_and_complete", name, "One finite vector for every vertex of the graph.")


def reconcile(raw: StageFiles) -> dg.AssetCheckResult:
    summary = read_json(raw["summary"])
    accepted = pl.scan_parquet(raw["events"]).select(pl.len()).collect().item()
    quarantined = pl.scan_parquet(raw["quarantine"]).select(pl.len()).collect().item()
    rejected = summary.get("files_rejected", {})  # whole files whose records could not be read, so not counted
    ok = (summary["read"] == summary["accepted"] + summary["quarantined"] and (accepted, quarantined) == (summary["accepted"], summary["quarantined"])
          and not rejected)
    return dg.AssetCheckResult(check_name=RECONCILE.name, passed=ok,
                               metadata={"read": summary["read"], "accepted (file)": accepted, "quarantined (file)": quarantined,
                                         "whole files rejected (records uncounted)": len(rejected),
                                         **({"first rejected file": f"{next(iter(rejected))}: {next(iter(rejected.values()))}"} if rejected else {})})


def session_rule(sessions: StageFiles, session_gap_minutes: float, split_on_device_change: bool) -> dg.AssetCheckResult:
    bad = rule_violations_file(sessions["events"], session_gap_minutes, split_on_device_change)
    return dg.AssetCheckResult(check_name=SESSION_RULE.name, passed=not any(bad.values()), metadata=bad)


def no_cold_start(splits: StageFiles) -> dg.AssetCheckResult:
    train = pl.scan_parquet(splits["train"]).select("song_id").unique()
    cold = pl.scan_parquet(splits["test"]).join(train, on="song_id", how="anti").select(pl.len()).collect().item()
    return dg.AssetCheckResult(check_name=NO_COLD_START.name, passed=cold == 0, metadata={"cold-start test events": cold})


def split_sides(splits: StageFiles, cutoff: str) -> dg.AssetCheckResult:
    cut = parse_cutoff(cutoff)
    late = pl.scan_parquet(splits["train"]).filter(pl.col("timestamp") >= cut).select(pl.len()).collect().item()
    early = pl.scan_parquet(splits["test"]).filter(pl.col("timestamp") < cut).select(pl.len()).collect().item()
    return dg.AssetCheckResult(check_name=SPLIT_SIDES.name, passed=late == 0 and early == 0,
                               metadata={"train events after cutoff": late, "test events before cutoff": early})


def walks_follow_edges(network: str, graph: Graph, walks: StageFiles) -> dg.AssetCheckResult:
    sample = read_walks(walks.series("shard", 0), limit=WALKS_CHECKED)
    a = np.concatenate([w[:-1] for w in sample])
    b = np.concatenate([w[1:] for w in sample])
    bad = int((~graph.has_edges(a, b)).sum())
    return dg.AssetCheckResult(check_name=walk_spec(network).name, passed=bad == 0,
                               metadata={"steps checked": len(a), "steps off the graph": bad})


def finite_and_complete(name: str, vectors: np.ndarray, n_vertices: int) -> dg.AssetCheckResult:
    non_finite = int((~np.isfinite(vectors)).any(axis=1).sum())
    return dg.AssetCheckResult(
        check_name=embedding_spec(name).name, passed=vectors.shape[0] == n_vertices and non_finite == 0,
        metadata={"vectors": vectors.shape[0], "vertices": n_vertices, "non-finite vectors": non_finite},
    )
