"""MLflow's record of a run mirrors Dagster's: RUNNING while it runs, then FINISHED, FAILED or KILLED,
with links both ways (the run-status sensors evaluated as the Dagster daemon would)."""

import dagster as dg
import pytest
from dagster import DagsterEventType

from assets.definitions import ASSETS
from assets.sensors import MLFLOW_STATUS_SENSORS
from assets.stage_io import MLFLOW_RUN
from resources import ComputeEngine, DataStore, ListeningLogSource, MlflowTracking, PipelineSettings
from resources.mlflow_tracking import DAGSTER_URL_TAG

SENSORS = {s.name: s for s in MLFLOW_STATUS_SENSORS}
BY_KEY = {k.to_user_string(): a for a in ASSETS for k in a.keys}


@pytest.fixture
def setup(tmp_path):
    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "artifacts"))
    resources = {"store": DataStore(base_dir=str(tmp_path / "store")), "engine": ComputeEngine(), "settings": PipelineSettings(), "mlflow": mlflow,
                 "source": ListeningLogSource(n_users=6, n_songs=80, n_artists=8)}
    return dg.DagsterInstance.ephemeral(), resources, mlflow


def ended(sensor_name: str, instance: dg.DagsterInstance, run_id: str, event_type: DagsterEventType, mlflow: MlflowTracking):
    """Evaluate a run-status sensor on the run's end event, as the daemon does."""
    (record,) = instance.get_records_for_run(run_id, of_type={event_type}).records
    with dg.build_run_status_sensor_context(sensor_name=sensor_name, dagster_event=record.event_log_entry.dagster_event,
                                            dagster_instance=instance, dagster_run=instance.get_run_by_id(run_id),
                                            resources={"mlflow": mlflow}) as context:  # the resource has a lifecycle
        return SENSORS[sensor_name](context)


def status(mlflow: MlflowTracking, dagster_run_id: str) -> str:
    return mlflow.client().get_run(mlflow.run_id(dagster_run_id)).info.status


def test_a_successful_run_is_running_then_finished_with_links_both_ways(setup):
    instance, resources, mlflow = setup
    result = dg.materialize([BY_KEY["raw_events"]], instance=instance, resources=resources)
    assert result.success
    assert status(mlflow, result.run_id) == "RUNNING"  # logging no longer ends the run
    ended("mlflow_run_finished", instance, result.run_id, DagsterEventType.RUN_SUCCESS, mlflow)
    assert status(mlflow, result.run_id) == "FINISHED"
    run = mlflow.client().get_run(mlflow.run_id(result.run_id))
    assert run.data.tags[DAGSTER_URL_TAG] == f"http://127.0.0.1:3000/runs/{result.run_id}"
    assert run.data.tags["dagster_assets"] == "every asset of __ephemeral_asset_job__"
    assert run.data.tags["mlflow.source.name"] == "assets.definitions" and len(run.data.tags.get("mlflow.source.git.commit", "x" * 40)) == 40
    link = result.get_asset_materialization_events()[0].materialization.metadata[MLFLOW_RUN].value
    assert link.endswith(f"/runs/{run.info.run_id}") and link.startswith("http://127.0.0.1:5000/#/experiments/")


def test_a_failing_run_ends_failed(setup):
    instance, resources, mlflow = setup
    result = dg.materialize([BY_KEY["raw_events"], BY_KEY["sessions"]], instance=instance, resources=resources, raise_on_error=False,
                            run_config=dg.RunConfig(ops={"sessions": {"config": {"session_gap_minutes": -1.0}}}))
    assert not result.success
    assert status(mlflow, result.run_id) == "RUNNING"  # raw_events logged before sessions failed
    ended("mlflow_run_failed", instance, result.run_id, DagsterEventType.RUN_FAILURE, mlflow)
    assert status(mlflow, result.run_id) == "FAILED"


def test_a_cancelled_run_ends_killed_and_its_running_children_with_it(setup):
    instance, _, mlflow = setup
    run = instance.add_run(dg.DagsterRun(job_name="latent_space_pipeline", run_id="cancelled-run", status=dg.DagsterRunStatus.STARTED))
    mlflow.log(mlflow.run_id(run.run_id), params={"seed": 1})
    child = mlflow.method_run_id(run.run_id, "proposed")  # a method run cut short
    done = mlflow.method_run_id(run.run_id, "MF")
    mlflow.log(done, metrics={"x": 1.0}, end=True)
    instance.report_run_canceled(run)
    ended("mlflow_run_killed", instance, run.run_id, DagsterEventType.RUN_CANCELED, mlflow)
    client = mlflow.client()
    assert status(mlflow, run.run_id) == "KILLED" and client.get_run(child).info.status == "KILLED"
    assert client.get_run(done).info.status == "FINISHED"  # a child that had finished keeps its end


def test_a_run_that_logged_nothing_is_skipped(setup):
    instance, _, mlflow = setup
    run = instance.add_run(dg.DagsterRun(job_name="latent_space_pipeline", run_id="quiet-run", status=dg.DagsterRunStatus.STARTED))
    instance.report_run_failed(run)
    assert isinstance(ended("mlflow_run_failed", instance, run.run_id, DagsterEventType.RUN_FAILURE, mlflow), dg.SkipReason)


def test_a_run_of_some_assets_says_which(setup):
    _, _, mlflow = setup
    run = dg.DagsterRun(job_name="latent_space_pipeline", run_id="plots-only", asset_selection=frozenset({dg.AssetKey("plots")}),
                        run_config={"ops": {"plots": {}}})
    tags = mlflow.client().get_run(mlflow.run_id(run.run_id, run)).data.tags
    assert (tags["dagster_assets"], tags["dagster_job"]) == ("plots", "latent_space_pipeline")
    assert len(tags["config_digest"]) == 12


def test_system_metrics_are_sampled_into_the_runs_system_child_while_a_step_runs(tmp_path):
    import time

    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "a"),
                            system_metrics_interval=0.5)

    @dg.asset
    def slow(mlflow: MlflowTracking) -> None:
        time.sleep(2.0)  # four sampling intervals

    result = dg.materialize([slow], resources={"mlflow": mlflow})
    parent = mlflow.client().get_run(mlflow.run_id(result.run_id))
    run = mlflow.client().get_run(mlflow.system_run_id(result.run_id))
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id and run.info.run_name.startswith("system metrics · ")
    # one process ran every step here (materialize's in-process executor), so the series are the run's
    assert {"system/run/cpu_utilization_percentage", "system/run/system_memory_usage_megabytes"} <= set(run.data.metrics)
    assert not any(name.startswith("system/") for name in parent.data.metrics)  # the parent's metrics are results
    history = mlflow.client().get_metric_history(run.info.run_id, "system/run/system_memory_usage_megabytes")
    assert len(history) >= 2 and all(m.value > 0 for m in history)
    off = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/off.db", artifact_location=str(tmp_path / "b"), system_metrics_interval=0)
    quiet = dg.materialize([slow], resources={"mlflow": off})
    assert off.client().search_runs([off.experiment_id()]) == []  # no monitor, nothing logged, no run
    assert quiet.success
