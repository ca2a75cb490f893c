"""MLflow tracking: one MLflow run per Dagster run, a nested run per method.

Dagster runs each step in its own process, so nothing here relies on MLflow's active-run state:
every call names its run. The parent run is found by its ``dagster_run_id`` tag, and created (with
the tracking database and the experiment) under a file lock, so parallel steps never race.

The parent run's status mirrors its Dagster run's: RUNNING from its first log while the Dagster run
runs, then FINISHED, FAILED or KILLED when the Dagster run ends (``end_pipeline_run``, called by the run's
own executor, ``assets.executor``; the run-status sensors under the Dagster daemon and ``assets.reconcile`` are
the safety nets for runs whose process died).
"""


import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar a model file in a step's log otherwise

import dagster as dg  # noqa: E402
from filelock import FileLock  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402

from pipeline.io import PROJECT_ROOT  # noqa: E402
from pipeline.serving.promotion import Validation  # noqa: E402
from resources import system_metrics  # noqa: E402
from resources.mlflow_datasets import dataset_inputs  # noqa: E402
from resources.mlflow_notices import KNOWN_NOTICES, without  # noqa: E402
from resources.places import default_artifact_location, default_tracking_uri, git_commit, ui_urls  # noqa: E402,F401
from resources.registry import champion_gate  # noqa: E402
from resources.run_names import creation_tags, description, run_name  # noqa: E402

DAGSTER_RUN_TAG = "dagster_run_id"
DAGSTER_URL_TAG = "dagster_run_url"  # set by run_names.creation_tags
METHOD_TAG = "method"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
# The sections of counts and timings in MLflow's charts; both sort after the results (exp1.*, exp2.*), which the
# compare view lists first.
SIZE, TIME = "size/", "time/"



def _requirements() -> list[str]:
    """What a served model imports, at the versions installed here (no slow inference of them)."""
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("mlflow", "numpy", "pandas", "polars", "pyarrow", "numba", "threadpoolctl", "scipy")]


class MlflowTracking(dg.ConfigurableResource):
    """Where runs are tracked. Empty fields take the defaults above (artifact location set explicitly,
    since MLflow's own default follows the working directory)."""

    tracking_uri: str = ""
    experiment_name: str = "latent-listening"
    artifact_location: str = ""
    enabled: bool = True
    ui_url: str = ""  # where the MLflow UI serves this store, for links (empty: 127.0.0.1 on $MLFLOW_PORT, 5000)
    dagster_url: str = ""  # where the Dagster UI serves the instance, for links (empty: 127.0.0.1 on $DAGSTER_PORT, 3000)
    system_metrics_interval: float = 10.0  # seconds between system metrics samples while a step runs; 0: none
    _monitor: Any = PrivateAttr(default=None)

    # -- lifecycle: each step process samples the machine into its run's MLflow run ------------
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        if self.enabled and self.system_metrics_interval > 0 and run is not None:
            self._monitor = system_metrics.start(self.system_run_id(run.run_id, run), self.uri(),
                                                 system_metrics.node_id(context), self.system_metrics_interval)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        system_metrics.stop(self._monitor)
        self._monitor = None

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
            # a tracking server keeps the artifacts itself (proxied, --serve-artifacts); a local store gets a folder
            served = self.uri().startswith(("http://", "https://"))
            location = self.artifact_location or (None if served else default_artifact_location())
            if location and "://" not in location:
                Path(location).mkdir(parents=True, exist_ok=True)
                location = Path(location).resolve().as_uri()
            # MLflow 3's UI opens experiments in its GenAI (traces) view unless told they train models.
            return client.create_experiment(self.experiment_name, artifact_location=location,
                                            tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})

    def _find(self, experiment_id: str, tags: dict[str, str]):
        query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
        return self.client().search_runs([experiment_id], filter_string=query, max_results=1000)

    def _find_or_create(self, tags: dict[str, str], run_name: str, extra_tags: dict[str, str] | None = None) -> str:
        experiment_id = self.experiment_id()
        with self._lock():
            found = self._find(experiment_id, tags)
            if found:
                return found[0].info.run_id
            return self.client().create_run(experiment_id, tags={**tags, **(extra_tags or {})}, run_name=run_name).info.run_id

    # -- the runs -------------------------------------------------------------------------
    def run_id(self, dagster_run_id: str, run=None, name: str | None = None) -> str:
        """The MLflow run of this Dagster run, created on first use: named ``name``, else from ``run`` (the DagsterRun,
        ``run_names.run_name``), and tagged from it (its job, the assets it selected and a digest of its config)."""
        return self._find_or_create(
            {DAGSTER_RUN_TAG: dagster_run_id, "kind": "pipeline"}, run_name=name or run_name(dagster_run_id, run),
            extra_tags=creation_tags(dagster_run_id, run, self.dagster_ui()),
        )

    def system_run_id(self, dagster_run_id: str, run=None) -> str:
        """The nested run that holds the machine's samples while the run's steps ran (``system/<step>/...``), kept out
        of the pipeline run, whose metrics are the results."""
        parent = self.run_id(dagster_run_id, run)
        return self._find_or_create({DAGSTER_RUN_TAG: dagster_run_id, "kind": "system", "mlflow.parentRunId": parent},
                                    run_name=f"system metrics · {dagster_run_id[:8]}")

    def link(self, dagster_run_id: str):
        """The MLflow run of a Dagster run, as a link for the assets' metadata (None when tracking is off)."""
        return dg.MetadataValue.url(self.run_url(self.run_id(dagster_run_id))) if self.enabled else None

    def run_url(self, run_id: str) -> str:
        """The run's page in the MLflow UI."""
        return f"{self.mlflow_ui()}/#/experiments/{self.experiment_id()}/runs/{run_id}"

    def mlflow_ui(self) -> str:
        return self.ui_url or ui_urls()["ui_url"]

    def dagster_ui(self) -> str:
        return self.dagster_url or ui_urls()["dagster_url"]

    def end_pipeline_run(self, dagster_run_id: str, status: str, tags: dict[str, str] | None = None) -> list[str]:
        """End the MLflow runs of a Dagster run that has ended (``status``: FINISHED, FAILED or KILLED), the
        parent (with ``tags``, such as the failed step) and any child still running; returns their ids (none if the
        run logged nothing, or its parent was ended already: a run ended keeps its first end)."""
        if not self.enabled:
            return []
        if status not in ("FINISHED", "FAILED", "KILLED"):
            raise ValueError(f"an ended MLflow run is FINISHED, FAILED or KILLED, not {status!r}")
        runs = self._find(self.experiment_id(), {DAGSTER_RUN_TAG: dagster_run_id})
        client = self.client()
        ended = []
        if not any(r.data.tags.get("kind") == "pipeline" and r.info.status == "RUNNING" for r in runs):
            return []
        for run in runs:
            if run.data.tags.get("kind") == "pipeline":
                for key, value in (tags or {}).items():
                    client.set_tag(run.info.run_id, key, value)
                client.set_terminated(run.info.run_id, status)
                ended.insert(0, run.info.run_id)
            elif run.info.status == "RUNNING":  # a finished child keeps its own end
                client.set_terminated(run.info.run_id, status)
                ended.append(run.info.run_id)
        return ended

    def running_pipeline_runs(self) -> list[str]:
        """The Dagster run ids of the pipeline runs MLflow still shows RUNNING."""
        if not self.enabled:
            return []
        runs = self.client().search_runs([self.experiment_id()], filter_string="tags.kind = 'pipeline' and attributes.status = 'RUNNING'",
                                         max_results=10_000)
        return [run.data.tags[DAGSTER_RUN_TAG] for run in runs if DAGSTER_RUN_TAG in run.data.tags]

    def method_run_id(self, dagster_run_id: str, method: str, tags: dict[str, str] | None = None) -> str:
        """A nested run for one method (proposed, MF, ...) under the pipeline run, named so that the methods
        of two pipeline runs can be told apart (``<method> · <dagster run>``)."""
        parent = self.run_id(dagster_run_id)
        return self._find_or_create(
            {DAGSTER_RUN_TAG: dagster_run_id, METHOD_TAG: method, "mlflow.parentRunId": parent},
            run_name=f"{method} · {dagster_run_id[:8]}", extra_tags=tags,
        )

    def log_methods(self, dagster_run_id: str, table, params: dict[str, dict], tags: dict[str, str], headline_k: int) -> None:
        """Each method's curves over k (step = k) in its own nested run, with the params that shaped it;
        the pipeline run gets each method's recall and NDCG at ``headline_k`` (the runs table's columns) and, as its
        description, the table of recall at ``headline_k``.

        ``table``: the metrics (experiment, method, k, measures...); ``params``: method -> params."""
        rows = list(table.iter_rows(named=True))
        measures = [c for c in table.columns if c not in ("experiment", "method", "k", "queries")]
        headline = {f"{r['experiment']}.{r['method']}.{m}_at_{headline_k}": r[m]
                    for r in rows if r["k"] == headline_k for m in ("recall", "ndcg")}
        parent = self.run_id(dagster_run_id)
        self.log(parent, metrics=headline)
        self.client().set_tag(parent, "mlflow.note.content", description(table, headline_k))
        for method in dict.fromkeys(r["method"] for r in rows):
            curves = [(f"{r['experiment']}_{m}_at_k", r[m], r["k"]) for r in rows if r["method"] == method for m in measures]
            self.log(self.method_run_id(dagster_run_id, method, tags), params=params.get(method, {}), step_metrics=curves, end=True)

    def log_model(self, dagster_run_id: str, name: str, space_folder: Path, registered_name: str, input_example=None,
                  validation: Validation | None = None) -> dict:
        """Log a ``pipeline.serving.pyfunc`` space folder as a pyfunc model in its own nested run (``model <name> ·
        <dagster run>``) and register it as a new version of ``registered_name``; with ``validation``, record it on the
        version and move the alias ``champion`` to it if ``pipeline.serving.promotion.decide`` says so. Returns the model's URI,
        version and the gate's decision."""
        if not self.enabled:
            return {}
        import mlflow

        from pipeline.serving.pyfunc import LatentSpaceModel, signature

        parent = self.run_id(dagster_run_id)
        child = self._find_or_create({DAGSTER_RUN_TAG: dagster_run_id, "model": name, "mlflow.parentRunId": parent},
                                     run_name=f"model {name} · {dagster_run_id[:8]}")
        mlflow.set_tracking_uri(self.uri())
        with self._lock(), mlflow.start_run(run_id=child), without(KNOWN_NOTICES):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=LatentSpaceModel(), artifacts={"space": str(space_folder)}, signature=signature(),
                code_paths=[str(PROJECT_ROOT / "pipeline")], pip_requirements=_requirements(), registered_model_name=registered_name,
                input_example=input_example,
            )
        version = int(info.registered_model_version)
        result = {"model_uri": f"models:/{registered_name}/{version}", "run_model_uri": info.model_uri,
                  "version": version, "registered_name": registered_name}
        if validation is not None:
            result.update(champion_gate(self.client(), registered_name, version, validation))
        return result

    def log_datasets(self, run_id: str, datasets: list[dict]) -> None:
        """Record the data a run used as MLflow dataset inputs: each dict has ``name``, ``path`` (a file),
        ``context`` (training, testing...), ``schema`` (column -> polars type) and ``counts`` (shown as tags);
        the digest is the file's SHA-256, so two runs on the same data show the same dataset."""
        if not self.enabled:
            return
        self.client().log_inputs(run_id, datasets=dataset_inputs(datasets))

    def log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        step_metrics: list[tuple[str, float, int]] | None = None,
        counts: dict[str, float] | None = None,
        timings: dict[str, float] | None = None,
        artifacts: list[Path | str] | None = None,
        artifact_dir: str | None = None,
        figures: dict[str, Any] | None = None,
        dicts: dict[str, Any] | None = None,
        end: bool = False,
    ) -> None:
        """Log to ``run_id``; ``end`` marks it finished (a method's run, once logged). A pipeline's run stays
        RUNNING until its Dagster run ends (``end_pipeline_run``).

        MLflow's charts fall into sections by the metric's prefix: ``metrics`` are the results and lead, unprefixed;
        ``counts`` (of the data a stage read or wrote) go under ``size/``, ``timings`` under ``time/``."""
        if not self.enabled:
            return
        from mlflow.entities import Metric, Param

        client = self.client()
        now = int(time.time() * 1000)
        param_list = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        flat = {**(metrics or {}), **{f"{SIZE}{k}": v for k, v in (counts or {}).items()},
                **{f"{TIME}{k}": v for k, v in (timings or {}).items()}}
        metric_list = [Metric(k, float(v), now, 0) for k, v in flat.items()]
        metric_list += [Metric(k, float(v), now, int(step)) for k, v, step in (step_metrics or [])]
        for i in range(0, max(len(param_list), len(metric_list)), 100):
            client.log_batch(run_id, metrics=metric_list[i : i + 100], params=param_list[i : i + 100])
        for path in artifacts or []:
            client.log_artifact(run_id, str(path), artifact_path=artifact_dir)
        for name, fig in (figures or {}).items():
            client.log_figure(run_id, fig, name)
        for name, obj in (dicts or {}).items():
            client.log_dict(run_id, obj, name)
        if end:
            client.set_terminated(run_id)
