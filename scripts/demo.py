"""Materialize every asset of the pipeline into the local Dagster instance, then print the results.

Run by ``make demo``. The run is recorded in ``$DAGSTER_HOME`` (visible in ``make ui``) and in MLflow.
"""

import argparse
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

import dagster as dg

from assets import stage_io
from assets.console import console_config
from assets.definitions import defs, pipeline_job
from assets.instance import local_instance
from assets.reconcile import reconcile
from pipeline.analysis.report import render, wrapped
from pipeline.contract import EMBEDDING_NETWORK
from pipeline.embedding.record import TRAINERS
from pipeline.io import default_home
from resources import MlflowTracking


def pipeline() -> dg.JobDefinition:
    return defs.resolve_job_def(pipeline_job.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, help="synthetic log size: users (default: the source's default)")
    parser.add_argument("--songs", type=int, help="synthetic log size: songs")
    parser.add_argument("--artists", type=int, help="synthetic log size: artists")
    parser.add_argument("--seed", type=int, help="the run's seed: the log, the splits, the walks, the training and the metrics "
                        "(default: the settings' default)")
    add_engine_arguments(parser)
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    size = {k: v for k, v in (("n_users", args.users), ("n_songs", args.songs), ("n_artists", args.artists)) if v}
    config = {"resources": {"source": {"config": size}}} if size else {}
    if args.seed is not None:
        config.setdefault("resources", {})["settings"] = {"config": {"seed": args.seed}}
    return materialize_and_report(with_engine(config, args), verbose=args.verbose)


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help="print Dagster's debug lines and a failure's stack trace "
                        "(they are in the run's event log, `make ui`, either way)")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("local", "spark"), help="where the import, sessions, splits, graphs, walks and metrics run "
                        "(default: $LATENT_ENGINE, else local)")
    parser.add_argument("--spark-master", help="with --engine spark: local[*] (the default), spark://host:port, ...")
    parser.add_argument("--trainer", choices=TRAINERS, help="every embedding's skip-gram trainer (default: gensim; numba: the "
                        "same method, faster, docs/performance.md)")


def with_engine(config: dict, args: argparse.Namespace) -> dict:
    """``config`` with the engine resource's settings from ``--engine`` / ``--spark-master`` and every embedding's
    trainer from ``--trainer``, if given (over what ``config`` says)."""
    engine = config.setdefault("resources", {}).setdefault("engine", {}).setdefault("config", {})
    if args.engine:
        engine["engine"] = args.engine
    if args.spark_master:
        engine.setdefault("spark", {})["master"] = args.spark_master
    if not engine:
        del config["resources"]["engine"]
        if not config["resources"]:
            del config["resources"]
    if getattr(args, "trainer", None):
        for name in EMBEDDING_NETWORK:
            config.setdefault("ops", {}).setdefault(name, {}).setdefault("config", {})["trainer"] = args.trainer
    return config


def materialize_and_report(run_config: dict, verbose: bool = False) -> int:
    """Every asset of the pipeline in the local Dagster instance with ``run_config``; the report printed; 0 when it all passed.
    Without ``verbose`` the console shows INFO lines and a failure's message, not its stack trace."""
    run_config = {**run_config, "loggers": {**console_config(verbose), **run_config.get("loggers", {})}}
    if not verbose:
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its store's set-up lines; the run's own are the report
    instance = local_instance()
    say_reconciled(reconcile(instance, MlflowTracking()))
    print(f"Materializing every asset of {pipeline_job.name} (Dagster home: {instance.root_directory})", flush=True)
    t0 = time.perf_counter()
    # The multiprocess executor runs independent steps side by side (two cores: the three
    # single-threaded, bit-reproducible skip-gram trainings share them).
    with dg.execute_job(dg.reconstructable(pipeline), instance=instance, raise_on_error=False, run_config=run_config) as result:
        wall = time.perf_counter() - t0
        log = write_run_log(instance, result.run_id)
        print(f"\nThe run's whole log, debug lines included: {log}")
        return report(result, wall)


def write_run_log(instance: dg.DagsterInstance, run_id: str, folder: Path | None = None) -> Path:
    """Write every event of run ``run_id`` (every level, as the Dagster UI has them) to ``<folder>/<run id>.log``
    (default ``$LATENT_HOME/logs``), one a line; returns the file."""
    folder = folder or default_home() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.log"
    with path.open("w") as out:
        for entry in instance.all_logs(run_id):
            kind = entry.dagster_event.event_type_value if entry.dagster_event else "LOG"
            when = datetime.fromtimestamp(entry.timestamp).isoformat(timespec="milliseconds")
            out.write(f"{when} {logging.getLevelName(entry.level)} {entry.step_key or '-'} {kind}: {entry.user_message}\n")
    return path


def say_reconciled(done: dict[str, list[str]]) -> None:
    if done["failed"]:
        print(f"Marked failed: {len(done['failed'])} earlier run(s) whose processes are gone ({', '.join(r[:8] for r in done['failed'])})")
    if done["mlflow_ended"]:
        print(f"Ended in MLflow: the runs of {len(done['mlflow_ended'])} Dagster run(s) that had ended "
              f"({', '.join(r[:8] for r in done['mlflow_ended'])})")


def report(result, wall: float) -> int:
    durations = {
        e.step_key: e.event_specific_data.duration_ms / 1000
        for e in result.all_events
        if e.event_type_value == "STEP_SUCCESS"
    }
    print("\n" + "\n".join(wrapped(f"Wall time: {wall:.0f} s in all; per stage (s): ",
                                   [f"{step} {seconds:.1f}" for step, seconds in durations.items()])) + "\n")
    if not result.success:
        failures = [(e.step_key, e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        print(f"The run failed (run {result.run_id[:8]}: its full log, stack traces included, is in `make ui`, or rerun "
              "with --verbose).", file=sys.stderr)
        for step, error in failures or [("run", None)]:
            print(f"  {step}: {reason(error)}", file=sys.stderr)
        return 1
    failed_checks = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    print(f"Asset checks: {len(result.get_asset_check_evaluations())} run, failed: {failed_checks or 'none'}\n")
    print(render(stage_io.of_result(result)))
    tracking = MlflowTracking()
    print(f"\nOpen the UIs with `make ui`: Dagster at {tracking.dagster_ui()} (run {result.run_id[:8]}),\n"
          f"MLflow's runs at {tracking.mlflow_ui()}/#/experiments/{tracking.experiment_id()}/runs\n"
          "(one run per Dagster run; expand it for a run per method).")
    return 0 if not failed_checks else 1


def reason(error) -> str:
    """What a step's failure says to a person: its deepest cause's message, without the exception's class path
    (a ``dg.Failure``'s description, or the pipeline's own error message)."""
    if error is None:
        return "no step failed; the run itself did (see its log)"
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    head, sep, rest = message.partition(": ")
    return rest if sep and "." in head and " " not in head else message


if __name__ == "__main__":
    raise SystemExit(main())
