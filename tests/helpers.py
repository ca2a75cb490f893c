"""What the tests share: hand-made listening events, and whole-pipeline runs on a small generated log."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

T0 = datetime(2016, 5, 1, 12, 0, tzinfo=timezone.utc)


def events(rows: list[tuple]) -> pl.DataFrame:
    """rows of (minutes after T0, user, device, song)."""
    return pl.DataFrame(
        {
            "timestamp": [T0 + timedelta(minutes=m) for m, *_ in rows],
            "user_id": [r[1] for r in rows],
            "device": [r[2] for r in rows],
            "song_id": [r[3] for r in rows],
        },
        schema={"timestamp": pl.Datetime("us", "UTC"), "user_id": pl.String, "device": pl.String, "song_id": pl.String},
    )


def path_graph(n: int):
    """The path 0 - 1 - ... - n-1 as a graph."""
    from pipeline.network.graph import Graph

    src, dst = np.arange(n - 1), np.arange(1, n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    adj = [[] for _ in range(n)]
    for a, b in zip(src, dst):
        adj[a].append(b)
        adj[b].append(a)
    indptr[1:] = np.cumsum([len(x) for x in adj])
    indices = np.array([v for x in adj for v in sorted(x)], dtype=np.int32)
    vertices = pl.DataFrame({"vertex": np.arange(n), "kind": ["song"] * n, "key": [str(i) for i in range(n)]})
    return Graph(indptr, indices, vertices)


# ---------------------------------------------------------------- whole-pipeline runs

K = [10, 20, 30]
SMALL_RUN = {
    "splits": {"config": {"train_sessions": 30, "test_sessions": 5, "validation_sessions": 8}},
    "walks_uss": {"config": {"walk_length": 20, "walks_per_vertex": 4}},
    "walks_us": {"config": {"walk_length": 20, "walks_per_vertex": 4}},
    "embedding_uss": {"config": {"dimensions": 16}},
    "embedding_us": {"config": {"dimensions": 16}},
    "als_tuning": {"config": {"factors": 8, "iterations": [5], "regularization": [0.01, 10.0], "confidence_scale": [1.0, 5.0], "screen_iterations": 2}},
    "metrics": {"config": {"k_values": K, "bootstrap_samples": 200, "space_variants": ["cosine"]}},
}


@dataclass
class Run:
    result: object  # dagster's ExecuteInProcessResult
    store: object  # resources.DataStore
    mlflow: object  # resources.MlflowTracking
    instance: object  # the Dagster instance the run is recorded in

    def files(self, stage: str):
        """The folder of ``stage`` that this run materialized."""
        from assets import stage_io

        return stage_io.of_result(self.result)[stage]


def materialize_all(root: Path, source, instance=None, seed: int | None = None, engine=None, selection=None, **ops) -> Run:
    """Every asset (and its checks) of the pipeline, small settings, everything under ``root``."""
    import dagster as dg

    from assets.definitions import ASSETS
    from resources import ComputeEngine, DataStore, MlflowTracking, PipelineSettings

    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "artifacts"))
    store = DataStore(base_dir=str(root / "store"))
    instance = instance or dg.DagsterInstance.ephemeral()
    ops = {**SMALL_RUN, **ops}
    if selection is not None:  # config only for the selected assets' ops
        ops = {name: config for name, config in ops.items() if name in selection}
    result = dg.materialize(
        ASSETS, instance=instance, selection=selection,
        resources={"store": store, "source": source, "engine": engine or ComputeEngine(), "settings": PipelineSettings(workers=1, **({} if seed is None else {"seed": seed})), "mlflow": mlflow},
        run_config=dg.RunConfig(ops=ops),
    )
    return Run(result, store, mlflow, instance)
