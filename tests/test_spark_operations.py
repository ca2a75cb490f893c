"""Operating the Spark engine (resources.engines.spark, pipeline.engines.spark_session): each stage's cores capped and its event log
kept as configured, and a stage left without executors says so. Worked out by hand; the cluster test in
test_spark_engine.py checks the same on a real standalone cluster."""

import pytest

pytest.importorskip("pyspark")

from pipeline.engines.spark_session import waiting_notice  # noqa: E402
from resources.engines import SparkLauncher, SparkSettings  # noqa: E402


def test_a_stage_without_executors_on_a_cluster_says_why_and_a_local_one_never_waits():
    said = waiting_notice("spark://10.0.0.5:7077", 31.4, 0)
    assert said.startswith("waiting for executors for 31 s: the cluster at spark://10.0.0.5:7077 has no free cores")
    assert "cores_per_stage" in said
    assert waiting_notice("spark://10.0.0.5:7077", 31.4, 1) is None  # an executor came: nothing to say
    assert waiting_notice("local[*]", 600.0, 0) is None  # the driver runs the tasks itself


def test_the_cores_cap_and_the_event_log_reach_the_applications_conf(tmp_path):
    conf = SparkLauncher(SparkSettings(cores_per_stage=1, event_log_dir=str(tmp_path / "events"))).operations_conf()
    assert conf == {"spark.cores.max": "1", "spark.eventLog.enabled": "true", "spark.eventLog.dir": (tmp_path / "events").as_uri()}
    assert (tmp_path / "events").is_dir()  # Spark refuses to start with a missing event log folder
    assert SparkLauncher(SparkSettings(event_log_dir="none")).operations_conf() == {}  # uncapped, no log


def test_the_event_log_defaults_to_the_latent_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_HOME", str(tmp_path))
    assert SparkLauncher(SparkSettings()).operations_conf()["spark.eventLog.dir"] == (tmp_path / "spark-events").as_uri()
