"""The engine resource: one launcher per engine, chosen by name, and each training sent to the engine that has its
trainer (worked out by hand: no Spark is started here; test_spark_engine.py runs the launchers on a real cluster)."""

import dagster as dg
import pytest

from pipeline.contract import Store
from pipeline.engines import ENGINES, TRAINERS
from pipeline.engines.local import LOCAL
from resources.engines import ComputeEngine, LocalLauncher, SparkLauncher, SparkSettings


def test_each_engine_name_picks_its_launcher_with_its_own_settings():
    assert isinstance(ComputeEngine().launcher(), LocalLauncher)
    spark = ComputeEngine(engine="spark", spark=SparkSettings(master="spark://10.0.0.5:7077", cores_per_stage=2)).launcher()
    assert isinstance(spark, SparkLauncher) and spark.settings.cores_per_stage == 2
    assert spark.describe() == "spark (spark://10.0.0.5:7077)" and ComputeEngine().describe() == "local"
    assert {ComputeEngine(engine=e).launcher().name for e in ENGINES} == set(ENGINES)
    with pytest.raises(dg.Failure, match="engine 'flink' is not one of local, spark"):
        ComputeEngine(engine="flink").launcher()


def test_a_training_runs_on_the_engine_that_has_its_trainer():
    context = dg.build_asset_context()
    spark = ComputeEngine(engine="spark")
    # this machine's trainers run here under the Spark engine too; Spark's own stays with Spark
    assert isinstance(spark._trainer_launcher(context, "embedding_uss", spark.launcher(), "numba"), LocalLauncher)
    assert isinstance(spark._trainer_launcher(context, "embedding_uss", spark.launcher(), "spark-word2vec"), SparkLauncher)
    local = ComputeEngine()
    with pytest.raises(dg.Failure, match="trainer spark-word2vec runs on the Spark engine: set the engine resource's engine to spark"):
        local._trainer_launcher(context, "embedding_uss", local.launcher(), "spark-word2vec")
    with pytest.raises(dg.Failure, match="trainer 'word2vec' is not one of gensim, numba, spark-word2vec"):
        local._trainer_launcher(context, "embedding_uss", local.launcher(), "word2vec")
    assert TRAINERS == {"local": ("gensim", "numba"), "spark": ("spark-word2vec",)}


def test_only_engine_stages_are_run_and_the_local_engine_has_each(tmp_path):
    with pytest.raises(ValueError, match="plots is not a stage an engine runs"):
        ComputeEngine().run(dg.build_asset_context(), "plots", {}, Store(tmp_path).version("plots", "x"))
    assert set(LOCAL) == {"raw_events", "sessions", "splits", "graph_uss", "graph_us", "walks_uss", "walks_us", "metrics",
                          "embedding_uss", "embedding_uss_2d", "embedding_us"}
