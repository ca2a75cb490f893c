"""System metrics (CPU, memory, disk, network) in the pipeline's MLflow run while each step runs.

MLflow's own monitor samples the machine with psutil in a thread and logs to one run. Dagster runs each step in
its own process, so every step process starts one monitor on its Dagster run's MLflow run, named by the step
(``system/<step>/cpu_utilization_percentage``, ...): the charts show what the machine did while that step ran.
The figures are the machine's, not the step's process alone (steps running side by side show the same load).

A monitor logs a sample once per interval; a step shorter than one interval logs none.
"""

from __future__ import annotations

import logging


def start(run_id: str, tracking_uri: str, node_id: str, interval: float):
    """A started monitor on ``run_id`` (stop it with ``stop``); None if it cannot start (it never fails the step)."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # not an INFO line per step in the run's log
    try:
        monitor = SystemMetricsMonitor(run_id, sampling_interval=interval, node_id=node_id, tracking_uri=tracking_uri)
    except Exception as error:  # noqa: BLE001 - metrics about the machine must never stop the science
        logging.getLogger(__name__).warning("system metrics are off for %s: %s", node_id, error)
        return None
    monitor.start()
    return monitor


def stop(monitor) -> None:
    """Stop sampling and write what is still buffered."""
    if monitor is not None:
        monitor.finish()


def node_id(context) -> str:
    """The step whose process set the resource up: the multiprocess executor's worker for a step records its
    STEP_WORKER_STARTED event from that process, so the event with this process's id names the step. ``run`` when
    one process runs every step (the in-process executor: ``materialize``, ``--in-process``)."""
    import os

    from dagster import DagsterEventType

    if context.instance is None or context.dagster_run is None:
        return "run"
    records = context.instance.get_records_for_run(context.dagster_run.run_id,
                                                   of_type=DagsterEventType.STEP_WORKER_STARTED).records
    mine = [r.event_log_entry for r in records if r.event_log_entry.dagster_event.pid == os.getpid()]
    return (mine[-1].step_key if mine else None) or "run"
