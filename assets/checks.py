"""Asset checks: the invariants of each stage, checked on what was written."""


import dagster as dg
import numpy as np
import polars as pl

from assets._meta import layout
from assets.deepwalk import embedding_us, embedding_uss, embedding_uss_2d, walks_us, walks_uss
from assets.ingest import sessions, splits
from pipeline.graph import Graph
from pipeline.io import read_json
from pipeline.sessions import rule_violations_file
from pipeline.splits import parse_cutoff
from pipeline.walks import read_walks
from resources import DataStore

WALKS_CHECKED = 5_000


@dg.asset_check(asset="raw_events", description="Every input row is accepted or quarantined: accepted + quarantined = read, "
                "and the files hold what the counts say.")
def raw_events_reconcile(store: DataStore) -> dg.AssetCheckResult:
    folder = layout(store).stage("raw_events")
    summary = read_json(folder / "summary.json")
    accepted = pl.scan_parquet(folder / "events.parquet").select(pl.len()).collect().item()
    quarantined = pl.scan_parquet(folder / "quarantine.parquet").select(pl.len()).collect().item()
    ok = summary["read"] == summary["accepted"] + summary["quarantined"] and (accepted, quarantined) == (summary["accepted"], summary["quarantined"])
    return dg.AssetCheckResult(passed=ok, metadata={"read": summary["read"], "accepted (file)": accepted, "quarantined (file)": quarantined})


@dg.asset_check(asset=sessions, description="Consecutive events of a session are closer than the gap on one device; "
                "consecutive sessions of a user are not.")
def sessions_obey_rule(store: DataStore) -> dg.AssetCheckResult:
    paths = layout(store)
    cfg = read_json(paths.stage("sessions") / "config.json")
    bad = rule_violations_file(paths.sessionized, cfg["session_gap_minutes"], cfg["split_on_device_change"])
    return dg.AssetCheckResult(passed=not any(bad.values()), metadata=bad)


@dg.asset_check(asset=splits, description="No test event has a song that never occurs in train.")
def no_cold_start_songs_in_test(store: DataStore) -> dg.AssetCheckResult:
    paths = layout(store)
    train = pl.scan_parquet(paths.split("train.parquet")).select("song_id").unique()
    cold = pl.scan_parquet(paths.split("test.parquet")).join(train, on="song_id", how="anti").select(pl.len()).collect().item()
    return dg.AssetCheckResult(passed=cold == 0, metadata={"cold-start test events": cold})


@dg.asset_check(asset=splits, description="Every train event is before the cutoff, every test event at or after it.")
def split_sides_of_cutoff(store: DataStore) -> dg.AssetCheckResult:
    paths = layout(store)
    cut = parse_cutoff(read_json(paths.split("config.json"))["cutoff"])
    late = pl.scan_parquet(paths.split("train.parquet")).filter(pl.col("timestamp") >= cut).select(pl.len()).collect().item()
    early = pl.scan_parquet(paths.split("test.parquet")).filter(pl.col("timestamp") < cut).select(pl.len()).collect().item()
    return dg.AssetCheckResult(passed=late == 0 and early == 0, metadata={"train events after cutoff": late, "test events before cutoff": early})


def _walk_check(walks_asset, network: str):
    @dg.asset_check(asset=walks_asset, name=f"walks_{network}_follow_edges",
                    description=f"In the first {WALKS_CHECKED:,} walks every consecutive pair of vertices is an edge.")
    def _check(store: DataStore) -> dg.AssetCheckResult:
        paths = layout(store)
        graph = Graph.load(paths.graph(network))
        walks = read_walks(paths.walks(network) / "pass-000.txt", limit=WALKS_CHECKED)
        a = np.concatenate([w[:-1] for w in walks])
        b = np.concatenate([w[1:] for w in walks])
        bad = int((~graph.has_edges(a, b)).sum())
        return dg.AssetCheckResult(passed=bad == 0, metadata={"steps checked": len(a), "steps off the graph": bad})

    return _check


def _embedding_check(embedding_asset, network: str):
    name = embedding_asset.key.path[-1]

    @dg.asset_check(asset=embedding_asset, name=f"{name}_finite_and_complete",
                    description="One finite vector for every vertex of the graph.")
    def _check(store: DataStore) -> dg.AssetCheckResult:
        paths = layout(store)
        vectors = np.load(paths.embedding(name) / "vectors.npy")
        n_vertices = Graph.load(paths.graph(network)).n_vertices
        non_finite = int((~np.isfinite(vectors)).any(axis=1).sum())
        return dg.AssetCheckResult(
            passed=vectors.shape[0] == n_vertices and non_finite == 0,
            metadata={"vectors": vectors.shape[0], "vertices": n_vertices, "non-finite vectors": non_finite},
        )

    return _check


CHECKS = [
    raw_events_reconcile,
    sessions_obey_rule,
    no_cold_start_songs_in_test,
    split_sides_of_cutoff,
    _walk_check(walks_uss, "uss"),
    _walk_check(walks_us, "us"),
    _embedding_check(embedding_uss, "uss"),
    _embedding_check(embedding_uss_2d, "uss"),
    _embedding_check(embedding_us, "us"),
]
