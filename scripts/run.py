"""Your own listening log through the whole pipeline in one command.

    make run LOG=path/to/log [FORMAT=auto] [CUTOFF=auto|2016-06-01] [CONFIG=overrides.yaml]
    latent-listening run path/to/log [--format auto] [--cutoff auto] [--config overrides.yaml]

Materializes every asset in the local Dagster instance (``$DAGSTER_HOME``: visible in ``make ui``),
records the run in MLflow, and prints the same report as ``make demo``. The cutoff defaults to
``auto`` here: the split planner's recommendation (see docs/your-log.md, "Choosing the split").

``--config`` takes a YAML file of overrides by stage (asset) or resource name, only what differs:

    splits: {train_sessions: 40, test_sessions: 10}
    walks_uss: {walk_length: 20}
    source: {columns: {user_id: listener, song_id: track_uri}, pseudonymise_salt_env: LATENT_LOG_SALT}
    settings: {seed: 7}

A full Dagster run config (top-level ``ops:`` / ``resources:``) is accepted as well, and ``execution:`` is
Dagster's executor choice (``--in-process`` is ``execution: {config: {in_process: {}}}``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from pipeline.ingest.field_rules import LogInputError
from pipeline.ingest.importers import FORMATS, resolve_files

RESOURCES = ("source", "store", "settings", "mlflow", "engine")


def stage_names() -> list[str]:
    from assets.definitions import ASSETS

    return sorted(a.op.name for a in ASSETS)


def run_config(log: str, fmt: str = "auto", cutoff: str = "auto", overrides: dict | None = None) -> dict:
    """The Dagster run config for a log at ``log``: the source, the cutoff, and the overrides merged over them."""
    config: dict = {"resources": {"source": {"config": {"path": str(log), "format": fmt}}},
                    "ops": {"splits": {"config": {"cutoff": cutoff}}}}
    overrides = dict(overrides or {})
    if set(overrides) & {"ops", "resources"}:
        return _merge(config, overrides)
    if "execution" in overrides:  # Dagster's own: {config: {in_process: {}}} or {config: {multiprocess: {max_concurrent: 2}}}
        config["execution"] = overrides.pop("execution")
    stages = stage_names()
    for name, values in overrides.items():
        if not isinstance(values, dict):
            raise ValueError(f"override {name!r}: expected a mapping of settings, got {values!r}")
        if name in RESOURCES:
            _merge(config, {"resources": {name: {"config": values}}})
        elif name in stages:
            _merge(config, {"ops": {name: {"config": values}}})
        else:
            raise ValueError(f"override {name!r} names no stage or resource; stages: {', '.join(stages)}; "
                             f"resources: {', '.join(RESOURCES)}")
    return config


def _merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def read_overrides(path: str | None) -> dict:
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise SystemExit(f"--config {path}: no such file") from None
    except yaml.YAMLError as exc:
        raise SystemExit(f"--config {path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise SystemExit(f"--config {path}: expected a mapping of stage or resource names to settings")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="latent-listening run", description=__doc__.split("\n\n")[0])
    parser.add_argument("log", help="a file, a folder or a glob")
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    parser.add_argument("--cutoff", default="auto", help="an ISO date, or auto (the split planner's choice; the default)")
    parser.add_argument("--config", help="a YAML file of overrides by stage or resource name")
    parser.add_argument("--in-process", action="store_true",
                        help="run the steps one after another in this process (no step processes to start: quicker on a small log, "
                             "and a debugger can stop in any stage); by default independent steps run side by side")
    from scripts.demo import add_engine_arguments, add_verbose_argument, with_engine

    add_engine_arguments(parser)
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    try:
        resolve_files(args.log)
        overrides = read_overrides(args.config)
        if args.in_process:
            overrides["execution"] = {"config": {"in_process": {}}}
        config = with_engine(run_config(args.log, args.format, args.cutoff, overrides), args)
    except (LogInputError, ValueError) as exc:
        parser.exit(2, f"latent-listening run: {exc}\n")
    from scripts.demo import materialize_and_report

    return materialize_and_report(config, verbose=args.verbose)


if __name__ == "__main__":
    raise SystemExit(main())
