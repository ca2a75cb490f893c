"""A sensor that notices new files of a real log and requests a pipeline run."""

import hashlib
import json

import dagster as dg

from assets.reconcile import MLFLOW_STATUS
from pipeline.sessions import split_plan
from resources import ListeningLogSource, MlflowTracking
from resources.source import SYNTHETIC


def file_stamp(path) -> str:
    stat = path.stat()
    return f"{path}:{stat.st_size}:{int(stat.st_mtime)}"


def make_new_files_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="new_listening_log_files",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a run of the whole pipeline when files appear (or change) under the source's path. "
        "The cursor remembers the files already taken, so none is taken twice. Its runs use cutoff: auto.",
    )
    def _sensor(context: dg.SensorEvaluationContext, source: ListeningLogSource):
        if source.format == SYNTHETIC:
            return dg.SkipReason("the source is the synthetic log: there are no files to watch")
        try:
            stamps = sorted(file_stamp(p) for p in source.files())
        except ValueError as exc:
            return dg.SkipReason(str(exc))
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        new = [s for s in stamps if s not in seen]
        if not new:
            return dg.SkipReason(f"no new files ({len(stamps)} already taken)")
        context.update_cursor(json.dumps(sorted(seen | set(new))))
        run_key = hashlib.sha1("\n".join(new).encode()).hexdigest()[:16]
        # a real log's span is not the paper's: its runs take the split planner's cutoff (as `make run` does)
        return dg.RunRequest(run_key=run_key, tags={"new_files": str(len(new))},
                             run_config={"ops": {"splits": {"config": {"cutoff": split_plan.AUTO}}}})

    return _sensor




def _mlflow_status_sensor(run_status: dg.DagsterRunStatus, mlflow_status: str) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        run_status=run_status,
        name=f"mlflow_run_{mlflow_status.lower()}",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=10,
        description=f"Marks the MLflow runs of a Dagster run that ended {run_status.value} as {mlflow_status} (under the Dagster daemon).",
    )
    def _sensor(context: dg.RunStatusSensorContext, mlflow: MlflowTracking):
        ended = mlflow.end_pipeline_run(context.dagster_run.run_id, mlflow_status)
        if not ended:
            return dg.SkipReason(f"run {context.dagster_run.run_id} logged nothing to MLflow, or its executor ended its run already")
        context.log.info(f"MLflow runs {', '.join(ended)} of Dagster run {context.dagster_run.run_id}: {mlflow_status}")
        return None

    return _sensor


MLFLOW_STATUS_SENSORS = [_mlflow_status_sensor(r, s) for r, s in MLFLOW_STATUS.items()]
