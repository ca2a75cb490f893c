"""Print Table 1 and the metrics table of the last materialization (``python -m pipeline.report``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

from pipeline.io import default_data_dir, read_json


def metrics_table(metrics: pl.DataFrame, measure: str, experiment: str) -> pl.DataFrame:
    """method x k for one measure and experiment."""
    data = metrics.filter(pl.col("experiment") == experiment)
    order = data["method"].unique(maintain_order=True)
    wide = data.pivot(on="k", index="method", values=measure, sort_columns=True)
    return wide.join(pl.DataFrame({"method": order}).with_row_index("_o"), on="method").sort("_o").drop("_o")


def render(store: Path) -> str:
    lines = []
    table1 = store / "splits" / "table1.parquet"
    metrics_path = store / "metrics" / "metrics.parquet"
    missing = [p for p in (table1, metrics_path) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"not materialized yet: {', '.join(map(str, missing))} (run `make demo`)")
    with pl.Config(tbl_rows=50, tbl_cols=20, float_precision=4, tbl_hide_dataframe_shape=True, tbl_width_chars=200):
        lines += ["Table 1: the real-life split", str(pl.read_parquet(table1)), ""]
        metrics = pl.read_parquet(metrics_path)
        for experiment, title in (("exp1", "Experiment 1: similar-song retrieval"), ("exp2", "Experiment 2: recommendation")):
            for measure in ("recall", "precision"):
                lines += [f"{title}: {measure}@k", str(metrics_table(metrics, measure, experiment)), ""]
        verdicts = store / "metrics" / "verdicts.parquet"
        if verdicts.exists():
            lines += ["The paper's orderings, judged by non-overlapping 95 % bootstrap intervals of recall@k",
                      str(pl.read_parquet(verdicts)), ""]
        grid = store / "als_tuning" / "grid.csv"
        if grid.exists():
            best = pl.read_csv(grid).row(0, named=True)
            lines += [f"ALS chosen on validation: regularization={best['regularization']}, confidence_scale={best['confidence_scale']}, "
                      f"iterations={best['iterations']} (validation score {best['score']:.4f})", ""]
    notes = store / "metrics" / "notes.json"
    if notes.exists():
        lines.append("Evaluation notes: " + ", ".join(f"{k}={v}" for k, v in read_json(notes).items()))
    behaviour = store / "behaviour" / "summary.json"
    if behaviour.exists():
        b = read_json(behaviour)
        lines.append(
            f"Behaviour of {b['users']} users (128-d space): {100 * b['share_dynamic']:.0f}% dynamic preference, "
            f"{100 * b['share_device_related']:.0f}% device-related, {100 * b['share_time_related']:.0f}% time-related"
        )
        if "truth_preference_accuracy" in b:
            lines.append(
                f"  against the planted truth: preference {b['truth_preference_accuracy']:.3f}, device {b['truth_device_accuracy']:.3f}, "
                f"time {b['truth_time_accuracy']:.3f} (accuracy)"
            )
    explorer = store / "explorer" / "explorer.html"
    if explorer.exists():
        lines.append(f"Interactive explorer (open in a browser, works offline): {explorer}")
    figures = sorted((store / "plots").glob("*.png"))
    if figures:
        lines.append("Figures:")
        lines += [f"  {p}" for p in figures]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, default=None, help="data folder (default: the DataStore default)")
    args = parser.parse_args(argv)
    try:
        print(render(args.store or default_data_dir()))
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
