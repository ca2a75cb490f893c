"""A finished run of a home, loaded as the metrics stage sees it: for benchmarks that score another space on the same
queries (``spark_word2vec.py``, ``trainer_quality.py``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assets.stage_io import latest  # noqa: E402
from paper_run.stages import instance_of  # noqa: E402
from pipeline import defaults  # noqa: E402
from pipeline.evaluation.baselines import catalogue  # noqa: E402
from pipeline.evaluation.methods import Space  # noqa: E402
from pipeline.evaluation.metrics import EVENT_IDS  # noqa: E402
from pipeline.evaluation.nearest import EUCLIDEAN  # noqa: E402
from pipeline.evaluation.queries import TestQueries, build_queries  # noqa: E402
from pipeline.io import read_json  # noqa: E402
from pipeline.network.graph import Graph  # noqa: E402
from pipeline.sessions.sessions import session_table  # noqa: E402


@dataclass
class Run:
    stages: dict  # stage -> StageFiles of the latest materialization
    trained: dict  # embedding_uss's params.json
    queries: TestQueries
    sessions: pl.DataFrame  # the train sessions (session_id as text), for the session-aware methods
    graph: Graph
    songs: pl.DataFrame

    def space(self, name: str, vectors: np.ndarray) -> Space:
        """The proposed method's space over ``vectors`` (vertex order of the run's user-session-song graph)."""
        return Space.from_graph(name, EUCLIDEAN, vectors, self.graph, self.songs, with_sessions=True)


def load_run(home: str | Path) -> Run:
    stages = latest(instance_of(Path(home)))
    if "metrics" not in stages:
        raise SystemExit(f"no finished run in {home}: run `make demo` (with LATENT_HOME={home}) first")
    evaluation = read_json(stages["metrics"]["notes"])
    train = pl.read_parquet(stages["splits"]["train"], columns=EVENT_IDS)
    _, songs = catalogue(train)
    queries = build_queries(pl.read_parquet(stages["splits"]["test"]), songs, evaluation["sampled_sessions"], defaults.SEED)
    sessions = session_table(train).collect().with_columns(pl.col("session_id").cast(pl.String))
    return Run(stages, read_json(stages["embedding_uss"]["params"]), queries, sessions, Graph.load(stages["graph_uss"]), songs)
