"""The runs' executor: Dagster's default one (a process per step, or one process by config), which also starts
the run's MLflow parent run (named by the log, the seed and what the run overrode) and ends it when the run ends.

Every way a run is started goes through its job's executor: the UI, the schedule and sensors, ``dagster asset
materialize`` on the command line, ``execute_job``. So the parent run is FINISHED, FAILED (tagged with the failed
steps and the first line of the first error) or KILLED by the run itself, whether or not the Dagster daemon runs.
The run-status sensors stay as the safety net for a run whose orchestrating process itself died, and
``assets.reconcile`` for a process killed outright.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.definitions.executor_definition import multi_or_in_process_executor
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.executor.base import Executor

from resources.run_names import run_name


def ending(failures: list[tuple[str, str]], interrupted: bool, error: str | None) -> tuple[str, dict[str, str]]:
    """The MLflow status of a run that ended, and the tags that say why: ``failures`` are (step, message) in the
    order they failed; ``error`` is the orchestration's own error, if it raised one."""
    if interrupted:
        return "KILLED", {"dagster_end": "cancelled"}
    if not failures and error is None:
        return "FINISHED", {}
    steps = ", ".join(dict.fromkeys(step for step, _ in failures)) or "(orchestration)"
    message = failures[0][1] if failures else error
    first_line = next((line.strip() for line in (message or "").splitlines() if line.strip()), "no message")
    return "FAILED", {"failed_step": steps[:500], "error": first_line[:500]}


class EndsMlflowRun(Executor):
    """Runs the plan with ``inner`` and ends the run's MLflow parent as the last event goes by."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        failures: list[tuple[str, str]] = []
        interrupted, error = False, None
        start_mlflow_run(plan_context)
        try:
            for event in self._inner.execute(plan_context, execution_plan):
                if event.is_step_failure:
                    failures.append((event.step_key, event.step_failure_data.error.message if event.step_failure_data.error else ""))
                yield event
        except (KeyboardInterrupt, DagsterExecutionInterruptedError):
            interrupted = True
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            status, tags = ending(failures, interrupted, error)
            end_mlflow_run(plan_context, status, tags)


@contextmanager
def _resources(plan_context, keys: tuple[str, ...]):
    """The run's resources ``keys`` (those its job has), as the run's config sets them."""
    defs = plan_context.job.get_definition().resource_defs
    keys = tuple(k for k in keys if k in defs)
    config = {k: v for k, v in (plan_context.dagster_run.run_config.get("resources") or {}).items() if k in keys}
    with dg.build_resources({k: defs[k] for k in keys}, resource_config=config or None) as built:
        yield built


def start_mlflow_run(plan_context) -> None:
    """Create the run's MLflow parent run before any step logs to it, named by ``run_names.run_name`` from the run's
    own log, seed and overrides."""
    run = plan_context.dagster_run
    try:
        with _resources(plan_context, ("mlflow", "source", "settings")) as built:
            mlflow = getattr(built, "mlflow", None)
            if mlflow is not None and mlflow.enabled:
                settings = getattr(built, "settings", None)
                mlflow.run_id(run.run_id, run, name=run_name(run.run_id, run, getattr(built, "source", None),
                                                             settings.seed if settings is not None else None))
    except Exception as exc:  # noqa: BLE001 - the run's result must not hinge on its bookkeeping
        plan_context.log.warning(f"could not start this run's MLflow run ({type(exc).__name__}: {exc}); its steps will")


def end_mlflow_run(plan_context, status: str, tags: dict[str, str]) -> None:
    """End the MLflow runs of ``plan_context``'s Dagster run with the tracking resource as this run configured it.
    A tracking store that cannot be reached is a warning: the run's own outcome stands."""
    run = plan_context.dagster_run
    try:
        with _resources(plan_context, ("mlflow",)) as built:
            mlflow = getattr(built, "mlflow", None)
            ended = mlflow.end_pipeline_run(run.run_id, status, tags=tags) if mlflow is not None else []
        if ended:
            plan_context.log.info(f"MLflow run {ended[0]} of this run: {status}")
    except Exception as exc:  # noqa: BLE001 - the run's result must not hinge on its bookkeeping
        plan_context.log.warning(f"could not end this run's MLflow run ({type(exc).__name__}: {exc}); "
                                 "the run-status sensors or `make status` will")


@dg.executor(
    name="multi_or_in_process_executor",
    config_schema=multi_or_in_process_executor.config_schema,
    requirements=multi_or_in_process_executor.get_requirements,  # the same as Dagster's default
)
def tracked_executor(init_context) -> Executor:
    """Dagster's default executor (``execution: {config: {multiprocess: ...}}`` or ``{in_process: {}}``), ending
    the run's MLflow parent run as the run ends."""
    return EndsMlflowRun(multi_or_in_process_executor.executor_creation_fn(init_context))
