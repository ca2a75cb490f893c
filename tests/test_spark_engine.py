"""The Spark engine against a real standalone cluster on 127.0.0.1 (a master and two 1-core workers): every stage
it implements writes the same files as the local engine, byte for byte where the file is text or numpy, frame for
frame (values, order and types) where it is Parquet."""

from __future__ import annotations

import filecmp
import os
import shutil

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.contract import Store
from pipeline.stages import ENGINE_STAGES, LOCAL
from pipeline.synthetic import generate
from pipeline.synthetic_config import SyntheticConfig

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime (apt-get install default-jre-headless; .ci/run installs it)", allow_module_level=True)

PARAMS = {
    "sessions": {"session_gap_minutes": 10.0, "split_on_device_change": True},
    "splits": {"cutoff": "2016-06-01", "train_sessions": 20, "test_sessions": 5, "min_session_songs": 5},
    "walks_uss": {"walk_length": 10, "walks_per_vertex": 3, "seed": 7},
    "walks_us": {"walk_length": 12, "walks_per_vertex": 2, "seed": 7},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from scripts.spark_cluster import StandaloneCluster, free_port

    cluster = StandaloneCluster(tmp_path_factory.mktemp("spark"), workers=2, cores=1, memory="1g", port=free_port(),
                                webui_port=free_port()).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def spark(cluster):
    from pipeline.spark.session import spark_env, spark_session
    os.environ.update(spark_env(cluster.master))

    session = spark_session(cluster.master, "latent-listening tests", {"spark.sql.shuffle.partitions": "4",
                                                                         "spark.executor.memory": "1g"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def both_engines(spark, tmp_path_factory):
    """Every engine stage run on each engine, each reading its own engine's upstream files."""
    from pipeline.contract import STAGES
    from pipeline.spark.stages import SPARK

    store = Store(tmp_path_factory.mktemp("store"))
    raw = store.version("raw_events", "raw")
    generate(SyntheticConfig(n_users=24, n_songs=600, n_artists=60), raw)
    counts = {}
    for stage in ENGINE_STAGES:
        for engine, run in (("local", LOCAL[stage]), ("spark", lambda *a, f=SPARK[stage], **k: f(spark, *a, **k))):
            upstream = {r: raw if r == "raw_events" else store.version(r, engine) for r in STAGES[stage].reads}
            out = store.version(stage, engine)
            out.folder.mkdir(parents=True)
            counts[stage, engine] = run(upstream, out, None, **PARAMS.get(stage, {}))
    return store, counts


def test_the_cluster_runs_tasks_on_both_workers(cluster, spark):
    executors = spark.sparkContext.parallelize(range(8), 8).map(lambda _: os.getpid()).distinct().count()
    assert executors == 2
    assert cluster.status()["aliveworkers"] == 2


@pytest.mark.parametrize("stage", ENGINE_STAGES)
def test_spark_writes_what_the_local_engine_writes(both_engines, stage):
    store, counts = both_engines
    local, spark = store.version(stage, "local"), store.version(stage, "spark")
    compared = []
    for key, file in local.stage.files.items():
        if file.series:
            for i in range(PARAMS[stage]["walks_per_vertex"]):
                assert filecmp.cmp(local.series(key, i), spark.series(key, i), shallow=False), f"{stage} {key} {i}"
            compared.append(key)
            continue
        if not local[key].exists():
            assert not spark[key].exists()
            continue
        if local[key].suffix == ".parquet":
            assert_frame_equal(pl.read_parquet(local[key]), pl.read_parquet(spark[key]))
        elif local[key].suffix == ".npz":
            with np.load(local[key]) as a, np.load(spark[key]) as b:
                assert sorted(a) == sorted(b)
                for name in a:
                    assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), f"{stage} {name}"
        elif local[key].suffix == ".npy":
            assert np.array_equal(np.load(local[key]), np.load(spark[key]))
        else:
            assert local[key].read_text() == spark[key].read_text(), f"{stage} {key}"
        compared.append(key)
    assert compared, f"{stage}: no file compared"
    shared = set(counts[stage, "local"]) & set(counts[stage, "spark"]) - {"seconds"}
    assert shared and all(counts[stage, "local"][k] == counts[stage, "spark"][k] for k in shared)


def test_the_split_drops_as_the_paper_says_on_both(both_engines):
    store, counts = both_engines
    spark = counts["splits", "spark"]
    assert spark["sessions_dropped_short"] > 0  # the generator plants short sessions
    table1 = pl.read_parquet(store.version("splits", "spark")["table1"])
    assert table1["set"].to_list() == ["train", "test"] and table1["events"].min() > 0


def test_a_log_without_users_is_refused_on_spark(spark, tmp_path):
    from pipeline.contract import EVENT_SCHEMA
    from pipeline.spark.stages import SPARK

    store = Store(tmp_path)
    raw = store.version("raw_events", "raw")
    raw.folder.mkdir(parents=True)
    frame = pl.DataFrame({"timestamp": [0, 1], "user_id": ["a", None], "device": ["d", "d"], "song_id": ["s", "t"],
                          "artist": ["x", "x"], "genre": [None, None], "language": [None, None]})
    frame.with_columns(pl.from_epoch("timestamp", "s").dt.replace_time_zone("UTC").cast(EVENT_SCHEMA["timestamp"])) \
         .cast({k: v for k, v in EVENT_SCHEMA.items() if k != "timestamp"}).write_parquet(raw["events"])
    out = store.version("sessions", "spark")
    out.folder.mkdir(parents=True)
    with pytest.raises(ValueError, match="1 events have no user_id"):
        SPARK["sessions"](spark, {"raw_events": raw}, out, None, **PARAMS["sessions"])


DATA_STAGES = ["raw_events", "quarantine", "sessions", "split_plan", "splits", "graph_uss", "walks_uss"]


def test_dagster_runs_the_stages_on_the_cluster_through_pipes(cluster, tmp_path):
    """The same assets with engine: spark: each engine stage is a spark-submit application on the cluster (Pipes),
    its checks pass, and its files equal those of a run on the local engine."""
    from pyspark.sql import SparkSession

    from resources import ComputeEngine, ListeningLogSource
    from tests.helpers import materialize_all

    # This process's own application (the tests above) would hold both workers' cores, and the stages' applications
    # would wait for cores forever: a cluster runs applications side by side only when each caps spark.cores.max.
    if (active := SparkSession.getActiveSession()) is not None:
        active.stop()

    source = ListeningLogSource(n_users=20, n_songs=500, n_artists=50)
    spark = materialize_all(tmp_path / "spark", source, selection=DATA_STAGES,
                            engine=ComputeEngine(engine="spark", spark_master=cluster.master,
                                                 spark_conf={"spark.executor.memory": "1g", "spark.sql.shuffle.partitions": "4"}))
    local = materialize_all(tmp_path / "local", source, selection=DATA_STAGES)
    assert spark.result.success and local.result.success
    checks = spark.result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    logs = [e.message for e in spark.instance.all_logs(spark.result.run_id) if e.message]
    assert any("on spark://127.0.0.1" in m and "application app-" in m for m in logs)  # the job's own log line, via Pipes
    for stage in ("sessions", "splits", "graph_uss"):
        for key, file in local.files(stage).stage.files.items():
            if file.name.endswith(".parquet") and local.files(stage)[key].exists():
                assert_frame_equal(pl.read_parquet(local.files(stage)[key]), pl.read_parquet(spark.files(stage)[key]))
    for i in range(4):
        assert filecmp.cmp(local.files("walks_uss").series("shard", i), spark.files("walks_uss").series("shard", i), shallow=False)
    meta = spark.result.asset_materializations_for_node("sessions")[0].metadata
    assert meta["engine"].value == f"spark ({cluster.master})"
