"""Runs whose processes are gone, marked FAILED in Dagster and in MLflow; MLflow runs left RUNNING after their
Dagster run ended, ended.

A run killed with its process (kill -9, a machine restart, a disk that filled under the event log) stays STARTED in
Dagster and RUNNING in MLflow for ever, and retention never sweeps the folders of a run in progress. A run started
from the command line (``dagster asset materialize``) ends its Dagster run but not its MLflow run, which only the
daemon's run-status sensors end. ``reconcile`` settles both: a run none of whose recorded processes is alive on
this machine is marked FAILED with the reason, and every MLflow pipeline run whose Dagster run has ended is ended
with its status. It runs when ``make demo`` / ``latent-listening run`` start, in ``latent-listening status``, and
retention applies the process check to the folders it meets (``assets.stage_io.sweep``).

Processes are those the run's events recorded (each Dagster event carries its process id). Only for an instance
whose runs all run on this machine: the local SQLite one (the team server's daemon monitors its own runs).
"""

from __future__ import annotations

import os

import dagster as dg

NOT_ENDED = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
# A Dagster run's end, as MLflow says it.
MLFLOW_STATUS = {dg.DagsterRunStatus.SUCCESS: "FINISHED", dg.DagsterRunStatus.FAILURE: "FAILED", dg.DagsterRunStatus.CANCELED: "KILLED"}


def is_local(instance: dg.DagsterInstance) -> bool:
    """Whether every run of ``instance`` runs on this machine (its run storage is SQLite, as the local setup's)."""
    return type(instance.run_storage).__name__.startswith("Sqlite")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def processes(instance: dg.DagsterInstance, run_id: str) -> set[int]:
    """The processes a run's events came from (the run's own and its steps')."""
    return {e.dagster_event.pid for e in instance.all_logs(run_id) if e.dagster_event is not None and e.dagster_event.pid}


def is_dead(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """A run not ended whose every recorded process is gone. A run that recorded none (queued, or not launched yet)
    is not judged."""
    if run.status not in NOT_ENDED:
        return False
    pids = processes(instance, run.run_id)
    return bool(pids) and not any(alive(p) for p in pids)


def fail_dead(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Mark ``run`` FAILED if its processes are gone (see ``is_dead``); whether it did."""
    if not is_dead(instance, run):
        return False
    pids = ", ".join(map(str, sorted(processes(instance, run.run_id))))
    instance.report_run_failed(run, f"its processes ({pids}) are gone: killed or crashed without ending the run; "
                                    "marked failed so that its folders can be swept and a rerun starts clean")
    return True


def reconcile(instance: dg.DagsterInstance, mlflow=None) -> dict[str, list[str]]:
    """Mark the dead runs of a local ``instance`` FAILED, and end the MLflow pipeline runs (``mlflow``: a
    ``resources.MlflowTracking``) of every Dagster run that has ended. Returns the run ids of each."""
    failed = []
    if is_local(instance):
        failed = [run.run_id for run in instance.get_runs(dg.RunsFilter(statuses=list(NOT_ENDED))) if fail_dead(instance, run)]
    ended = []
    if mlflow is not None and mlflow.enabled:
        for dagster_run_id in mlflow.running_pipeline_runs():
            run = instance.get_run_by_id(dagster_run_id)
            if run is not None and run.status in MLFLOW_STATUS and mlflow.end_pipeline_run(dagster_run_id, MLFLOW_STATUS[run.status]):
                ended.append(dagster_run_id)
    return {"failed": failed, "mlflow_ended": ended}
