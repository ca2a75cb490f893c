"""The split planner on a log, without Dagster: import, cut into sessions, and print what each candidate split keeps.

    make plan LOG=path/to/log [FORMAT=auto]
    latent-listening plan path/to/log [--format auto] [--columns user_id=listener,song_id=track_uri]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import polars as pl

from pipeline import defaults
from pipeline.contract import StageFiles
from pipeline.ingest.field_rules import LogInputError
from pipeline.ingest.importers import FORMATS, import_log
from pipeline.sessions import split_plan
from pipeline.sessions.sessions import session_table, sessionize_file


def plan_log(log: str, fmt: str = "auto", columns: dict[str, str] | None = None, work: Path | None = None) -> tuple[pl.DataFrame, split_plan.Recommendation, dict]:
    """(the planner's table, its recommendation, the import's counts) for the log at ``log``."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        raw, sessions = StageFiles("raw_events", Path(tmp) / "raw"), StageFiles("sessions", Path(tmp) / "sessions")
        report = import_log(log, fmt, raw["events"], raw["quarantine"], columns=columns or {})
        sessionize_file(raw["events"], sessions["events"], defaults.SESSION_GAP_MINUTES, defaults.SPLIT_ON_DEVICE_CHANGE)
        table = split_plan.plan(session_table(pl.scan_parquet(sessions["events"])).collect())
    return table, split_plan.recommend(table), report.as_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="latent-listening plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("log", help="a file, a folder or a glob")
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    parser.add_argument("--columns", default="", help="a canonical file's column names: field=column,... (e.g. user_id=listener)")
    args = parser.parse_args(argv)
    try:
        pairs = [tuple(pair.split("=", 1)) for pair in args.columns.split(",") if pair]
        columns = dict(pairs)
    except ValueError:
        parser.exit(2, f"latent-listening plan: --columns {args.columns!r}: expected field=column pairs separated by commas\n")
    if len(columns) < len(pairs):
        twice = next(f for f, _ in pairs if sum(g == f for g, _ in pairs) > 1)
        parser.exit(2, f"latent-listening plan: --columns: {twice} is given twice; which column is meant is not guessed\n")
    try:
        table, best, counts = plan_log(args.log, args.format, columns)
    except (LogInputError, ValueError) as exc:
        parser.exit(2, f"latent-listening plan: {exc}\n")
    print(f"{counts['accepted']:,} events accepted ({counts['quarantined']:,} quarantined) from {args.log}")
    if counts["files_skipped"]:
        print(f"skipped, as files that exports ship beside the listens: {', '.join(counts['files_skipped'])}")
    print()
    wide = split_plan.users_by_cutoff(table)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(wide)
    print(f"\nrecommended: cutoff {best.cutoff}, {best.train_sessions} train and {best.test_sessions} test sessions per user: {best.why}")
    print("(`latent-listening run LOG` uses it: its cutoff defaults to auto)\n\nWhat each stage gets of every user under it:")
    for stage, gets in split_plan.RunPlan.of(best.train_sessions, best.test_sessions).stages().items():
        print(f"  {stage:<30} {gets}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
