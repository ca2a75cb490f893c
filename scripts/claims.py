"""The claims table across runs: the paper's orderings and the latent space against the tuned MF and SKNN, one
column a run, judged by user-level intervals as the metrics stage judges them; then recall@20 with its interval,
and what each run trained with.

    python -m scripts.claims [LABEL=]HOME ...      # HOME: a LATENT_HOME (or a `make paper --home`) with a finished run

Each run is the latest materialization of every stage in that home's Dagster instance. Markdown, for the docs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl


def run_of(home: Path) -> tuple[pl.DataFrame, str]:
    """The latest metrics of ``home`` and a line saying what made them."""
    import dagster as dg

    from assets.stage_io import latest
    from pipeline import defaults
    from pipeline.io import read_json

    if not (home / "dagster" / "dagster.yaml").exists():
        raise SystemExit(f"{home}: no Dagster instance here (dagster/dagster.yaml); is it a LATENT_HOME?")
    stages = latest(dg.DagsterInstance.from_config(str(home / "dagster")))
    if "metrics" not in stages:
        raise SystemExit(f"{home}: metrics not materialized yet")
    table1 = pl.read_parquet(stages["splits"]["table1"])
    train = table1.filter(pl.col("set") == "train")["events"].item()
    sg = read_json(stages["embedding_uss"]["params"])
    als = read_json(stages["baselines"]["params"])
    tuned = read_json(stages["skipgram_tuning"]["result"]) if "skipgram_tuning" in stages else {}
    paper = (sg["epochs"], sg["alpha"], sg["window"]) == (defaults.EPOCHS, defaults.ALPHA, defaults.WINDOW)
    how = "tuned on validation" if tuned.get("enabled") else "the paper's, untuned" if paper else "set in the run's config"
    said = (f"{train:,} train events; skip-gram ({sg.get('trainer', 'gensim')}) epochs={sg['epochs']} alpha={sg['alpha']} "
            f"window={sg['window']} ({how}); "
            f"ALS regularization={als['regularization']} confidence_scale={als['confidence_scale']} (tuned on validation)")
    return pl.read_parquet(stages["metrics"]["metrics"]), said


def main(argv: list[str] | None = None) -> int:
    from pipeline.analysis.report import claims_table, headline_table, markdown

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="[LABEL=]HOME")
    parser.add_argument("--k", type=int, default=20, help="the k of the recall table (default 20)")
    args = parser.parse_args(argv)
    runs, notes = {}, []
    for spec in args.runs:
        label, _, path = spec.rpartition("=")
        home = Path(path).resolve()
        label = label or home.name
        runs[label], said = run_of(home)
        notes.append(f"- {label}: {said}")
    print(markdown(claims_table(runs)), "", markdown(headline_table(runs, args.k)), "", *notes, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
