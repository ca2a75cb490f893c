"""The invariants each stage's files must hold, measured on what the stage just wrote: (held, what was measured).

The asset checks (``assets/checks.py``) report them; every one is blocking, so nothing downstream runs on files
that break one.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.contract import StageFiles
from pipeline.io import read_json
from pipeline.network.graph import Graph
from pipeline.network.walks import read_walks
from pipeline.sessions.sessions import rule_violations_file
from pipeline.sessions.splits import parse_cutoff

WALKS_CHECKED = 5_000
Measured = tuple[bool, dict]


def _rows(path) -> int:
    return pl.scan_parquet(path).select(pl.len()).collect().item()


def reconciled(raw: StageFiles) -> Measured:
    """accepted + quarantined = read; the files hold what the counts say; no whole file was rejected uncounted."""
    summary = read_json(raw["summary"])
    accepted, quarantined = _rows(raw["events"]), _rows(raw["quarantine"])
    rejected = summary.get("files_rejected", {})  # whole files whose records could not be read, so not counted
    ok = (summary["read"] == summary["accepted"] + summary["quarantined"] and (accepted, quarantined) == (summary["accepted"], summary["quarantined"])
          and not rejected)
    return ok, {"read": summary["read"], "accepted (file)": accepted, "quarantined (file)": quarantined,
                "whole files rejected (records uncounted)": len(rejected),
                **({"first rejected file": f"{next(iter(rejected))}: {next(iter(rejected.values()))}"} if rejected else {})}


def session_rule(sessions: StageFiles, session_gap_minutes: float, split_on_device_change: bool) -> Measured:
    """Consecutive events of a session are closer than the gap on one device; consecutive sessions of a user are not."""
    bad = rule_violations_file(sessions["events"], session_gap_minutes, split_on_device_change)
    return not any(bad.values()), bad


def no_cold_start(splits: StageFiles) -> Measured:
    """No test event has a song that never occurs in train."""
    train = pl.scan_parquet(splits["train"]).select("song_id").unique()
    cold = pl.scan_parquet(splits["test"]).join(train, on="song_id", how="anti").select(pl.len()).collect().item()
    return cold == 0, {"cold-start test events": cold}


def split_sides(splits: StageFiles, cutoff: str) -> Measured:
    """Every train event is before the cutoff, every test event at or after it."""
    cut = parse_cutoff(cutoff)
    late = pl.scan_parquet(splits["train"]).filter(pl.col("timestamp") >= cut).select(pl.len()).collect().item()
    early = pl.scan_parquet(splits["test"]).filter(pl.col("timestamp") < cut).select(pl.len()).collect().item()
    return late == 0 and early == 0, {"train events after cutoff": late, "test events before cutoff": early}


def walks_follow_edges(graph: StageFiles, walks: StageFiles, limit: int = WALKS_CHECKED) -> Measured:
    """In the first ``limit`` walks every consecutive pair of vertices is an edge of the graph."""
    sample = read_walks(walks.series("shard", 0), limit=limit)
    a = np.concatenate([w[:-1] for w in sample])
    b = np.concatenate([w[1:] for w in sample])
    bad = int((~Graph.load(graph).has_edges(a, b)).sum())
    return bad == 0, {"steps checked": len(a), "steps off the graph": bad}


def finite_and_complete(embedding: StageFiles, walks: StageFiles) -> Measured:
    """One finite vector for every vertex the walks know."""
    vectors = np.load(embedding["vectors"], mmap_mode="r")
    n_vertices = len(np.load(walks["vertex_counts"], mmap_mode="r"))
    non_finite = int((~np.isfinite(vectors)).any(axis=1).sum())
    return vectors.shape[0] == n_vertices and non_finite == 0, {"vectors": vectors.shape[0], "vertices": n_vertices,
                                                               "non-finite vectors": non_finite}
