"""MLflow tracking: one MLflow run per Dagster run, a nested run per method.

Dagster runs each step in its own process, so nothing here relies on MLflow's active-run state:
every call names its run. The parent run is found by its ``dagster_run_id`` tag, and created (with
the tracking database and the experiment) under a file lock, so parallel steps never race.
"""


import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import dagster as dg  # noqa: E402
from filelock import FileLock  # noqa: E402

from pipeline.io import default_home  # noqa: E402

DAGSTER_RUN_TAG = "dagster_run_id"
METHOD_TAG = "method"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` or a SQLite file under ``<project>/.data/mlflow``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{default_home() / 'mlflow' / 'mlflow.db'}"


def default_artifact_location() -> str:
    return str(default_home() / "mlflow" / "artifacts")


class MlflowTracking(dg.ConfigurableResource):
    """Where runs are tracked. Empty fields take the defaults above (artifact location set explicitly,
    since MLflow's own default follows the working directory)."""

    tracking_uri: str = ""
    experiment_name: str = "latent-listening"
    artifact_location: str = ""
    enabled: bool = True

    # -- plumbing -------------------------------------------------------------------------
    def uri(self) -> str:
        return self.tracking_uri or default_tracking_uri()

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri())

    def _lock(self) -> FileLock:
        uri = self.uri()
        if uri.startswith("sqlite:///"):
            db = Path(uri.removeprefix("sqlite:///"))
            db.parent.mkdir(parents=True, exist_ok=True)
            return FileLock(str(db) + ".lock")
        digest = hashlib.sha1(uri.encode()).hexdigest()[:12]
        return FileLock(os.path.join(tempfile.gettempdir(), f"mlflow-{digest}.lock"))

    def experiment_id(self) -> str:
        with self._lock():
            client = self.client()
            experiment = client.get_experiment_by_name(self.experiment_name)
            if experiment is not None:
                if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
                    client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
                return experiment.experiment_id
            location = self.artifact_location or default_artifact_location()
            if "://" not in location:
                Path(location).mkdir(parents=True, exist_ok=True)
                location = Path(location).resolve().as_uri()
            # MLflow 3's UI opens experiments in its GenAI (traces) view unless told they train models.
            return client.create_experiment(self.experiment_name, artifact_location=location,
                                            tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})

    def _find_or_create(self, tags: dict[str, str], run_name: str) -> str:
        experiment_id = self.experiment_id()
        with self._lock():
            client = self.client()
            query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
            found = client.search_runs([experiment_id], filter_string=query, max_results=1)
            if found:
                return found[0].info.run_id
            return client.create_run(experiment_id, tags=tags, run_name=run_name).info.run_id

    # -- the runs -------------------------------------------------------------------------
    def run_id(self, dagster_run_id: str) -> str:
        """The MLflow run of this Dagster run (created on first use)."""
        return self._find_or_create(
            {DAGSTER_RUN_TAG: dagster_run_id, "kind": "pipeline"}, run_name=f"dagster-{dagster_run_id[:8]}"
        )

    def method_run_id(self, dagster_run_id: str, method: str) -> str:
        """A nested run for one method (proposed, MF, ...) under the pipeline run."""
        parent = self.run_id(dagster_run_id)
        return self._find_or_create(
            {DAGSTER_RUN_TAG: dagster_run_id, METHOD_TAG: method, "mlflow.parentRunId": parent}, run_name=method
        )

    def log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        step_metrics: list[tuple[str, float, int]] | None = None,
        artifacts: list[Path | str] | None = None,
        artifact_dir: str | None = None,
        figures: dict[str, Any] | None = None,
        dicts: dict[str, Any] | None = None,
    ) -> None:
        """Log to ``run_id`` and mark it finished (later steps may log more to it)."""
        if not self.enabled:
            return
        from mlflow.entities import Metric, Param

        client = self.client()
        now = int(time.time() * 1000)
        param_list = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        metric_list = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        metric_list += [Metric(k, float(v), now, int(step)) for k, v, step in (step_metrics or [])]
        for i in range(0, max(len(param_list), len(metric_list)), 100):
            client.log_batch(run_id, metrics=metric_list[i : i + 100], params=param_list[i : i + 100])
        for path in artifacts or []:
            client.log_artifact(run_id, str(path), artifact_path=artifact_dir)
        for name, fig in (figures or {}).items():
            client.log_figure(run_id, fig, name)
        for name, obj in (dicts or {}).items():
            client.log_dict(run_id, obj, name)
        client.set_terminated(run_id)
