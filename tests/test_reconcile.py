"""Runs left behind (assets.reconcile): a run whose process was killed is marked FAILED in Dagster and MLflow and its
folder swept; a run whose process lives is left alone; an ended run's MLflow run still RUNNING is ended. Real
processes, a real local (SQLite) instance and a real MLflow store."""

import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.reconcile import reconcile
from assets.stage_io import sweep
from pipeline.contract import Store
from resources import MlflowTracking

ROOT = Path(__file__).resolve().parent.parent
# A child that runs a one-step job in the instance (its events record its process, as a pipeline run's do), and
# waits inside the step.
CHILD = """
import sys, time, dagster as dg

@dg.op
def wait():
    print("ready", flush=True)
    time.sleep(600)

@dg.job
def latent_space_pipeline():
    wait()

latent_space_pipeline.execute_in_process(instance=dg.DagsterInstance.from_config(sys.argv[1]), run_id=sys.argv[2])
"""
KILLED, LIVING = "00000000-0000-4000-8000-00000000dead", "00000000-0000-4000-8000-0000000a11fe"


@pytest.fixture
def home(tmp_path):
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text((ROOT / "scripts" / "dagster.yaml").read_text())
    return tmp_path


def start(home: Path, run_id: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(home / "dagster"), run_id], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    return child


def test_a_killed_run_is_failed_in_both_and_swept_and_a_live_one_is_left(home):
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{home}/mlflow.db", artifact_location=str(home / "artifacts"))
    killed, living = start(home, KILLED), start(home, LIVING)
    try:
        for run_id in (KILLED, LIVING):
            mlflow.run_id(run_id)  # its MLflow parent, RUNNING
        store = Store(home / "store")
        for run_id in (KILLED, LIVING):
            store.version("walks_uss", run_id).folder.mkdir(parents=True)  # a partial folder of each
        killed.send_signal(signal.SIGKILL)
        killed.wait()

        assert sweep(instance, store, "walks_uss", keep=2, current="next-run") == [KILLED]  # the dead run's only
        assert instance.get_run_by_id(KILLED).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(LIVING).status == dg.DagsterRunStatus.STARTED
        failure = [e for e in instance.all_logs(KILLED) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
        assert "processes" in failure[0].dagster_event.message and "are gone" in failure[0].dagster_event.message

        done = reconcile(instance, mlflow)  # the Dagster side is settled already; MLflow follows it
        assert done == {"failed": [], "mlflow_ended": [KILLED]}
        status = {r.data.tags["dagster_run_id"]: r.info.status for r in mlflow.client().search_runs([mlflow.experiment_id()])}
        assert status == {KILLED: "FAILED", LIVING: "RUNNING"}
    finally:
        living.kill()
        living.wait()
    assert reconcile(instance, mlflow) == {"failed": [LIVING], "mlflow_ended": [LIVING]}


def test_a_finished_run_whose_mlflow_run_was_left_running_is_ended_with_its_status(home):
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{home}/mlflow.db", artifact_location=str(home / "artifacts"))
    for run_id, status in (("cli-success", "SUCCESS"), ("cli-failure", "FAILURE")):  # as `dagster asset materialize` leaves them
        instance.add_run(dg.DagsterRun(job_name="latent_space_pipeline", run_id=run_id, status=dg.DagsterRunStatus(status)))
        mlflow.run_id(run_id)
    assert sorted(reconcile(instance, mlflow)["mlflow_ended"]) == ["cli-failure", "cli-success"]
    status = {r.data.tags["dagster_run_id"]: r.info.status for r in mlflow.client().search_runs([mlflow.experiment_id()])}
    assert status == {"cli-success": "FINISHED", "cli-failure": "FAILED"}
    assert reconcile(instance, mlflow) == {"failed": [], "mlflow_ended": []}  # nothing left to settle
