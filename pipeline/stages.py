"""The data-parallel stages in the one signature every engine implements.

    stage(upstream: {stage name: StageFiles}, out: StageFiles, log=None, **params) -> counts (JSON-able dict)

A stage reads the files of the stages it reads (``pipeline.contract``) and writes its own declared files; the
counts it returns become its asset's metadata. ``LOCAL`` holds this machine's implementations; another engine
(``pipeline.spark.stages.SPARK``) holds one implementation per stage under the same names, with the same params,
writing the same files, so nothing downstream knows which engine wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import polars as pl

from pipeline import defaults
from pipeline.contract import StageFiles
from pipeline.graph import Graph, user_session_song_graph, user_song_graph
from pipeline.io import atomic_path, write_json
from pipeline.sessions import session_table, sessionize_file
from pipeline.splits import SplitParams, split_files, table1
from pipeline.walks import write_corpus_shards

Log = Callable[[str], None] | None
Upstream = Mapping[str, StageFiles]
# The stages an engine implements (the rest run where the data they need is: one machine).
ENGINE_STAGES = ("sessions", "splits", "graph_uss", "graph_us", "walks_uss", "walks_us")
BUILDERS = {"uss": user_session_song_graph, "us": user_song_graph}


def sessions(upstream: Upstream, out: StageFiles, log: Log = None, *,
             session_gap_minutes: float = defaults.SESSION_GAP_MINUTES,
             split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE) -> dict:
    counts = sessionize_file(upstream["raw_events"]["events"], out["events"], session_gap_minutes, split_on_device_change, log=log)
    with atomic_path(out["sessions"]) as tmp:
        session_table(pl.scan_parquet(out["events"])).collect(engine="streaming").write_parquet(tmp)
    return counts


def splits(upstream: Upstream, out: StageFiles, log: Log = None, **params) -> dict:
    """Train, test, Table 1 and the counts of what the split dropped (``params``: the fields of ``SplitParams``)."""
    counts = split_files(upstream["sessions"]["events"], out["train"], out["test"], SplitParams(**params))
    with atomic_path(out["table1"]) as tmp:
        table1({"train": pl.scan_parquet(out["train"]), "test": pl.scan_parquet(out["test"])}).write_parquet(tmp)
    write_json(out["counts"], counts)
    return counts


def graph(network: str, upstream: Upstream, out: StageFiles, log: Log = None) -> dict:
    g = BUILDERS[network](pl.read_parquet(upstream["splits"]["train"], columns=["user_id", "session_id", "song_id"]))
    g.save(out)
    return {"vertices": g.n_vertices, "edges": g.n_edges}


def walks(network: str, upstream: Upstream, out: StageFiles, log: Log = None, *, walk_length: int = defaults.WALK_LENGTH,
          walks_per_vertex: int = defaults.WALKS_PER_VERTEX, seed: int = defaults.SEED) -> dict:
    g = Graph.load(upstream[f"graph_{network}"])
    _, stats = write_corpus_shards(g, out, walk_length, walks_per_vertex, seed, progress=log)
    return {"walks": stats.walks, "tokens": stats.tokens, "seconds": round(stats.seconds, 2)}


LOCAL: dict[str, Callable[..., dict]] = {
    "sessions": sessions,
    "splits": splits,
    **{f"graph_{n}": partial(graph, n) for n in BUILDERS},
    **{f"walks_{n}": partial(walks, n) for n in BUILDERS},
}
assert tuple(LOCAL) == ENGINE_STAGES
