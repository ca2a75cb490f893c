"""Table 1, the metrics tables and where the figures are, from the stages' files."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from pipeline.contract import StageFiles
from pipeline.io import read_json


def metrics_table(metrics: pl.DataFrame, measure: str, experiment: str) -> pl.DataFrame:
    """method x k for one measure and experiment."""
    data = metrics.filter(pl.col("experiment") == experiment)
    order = data["method"].unique(maintain_order=True)
    wide = data.pivot(on="k", index="method", values=measure, sort_columns=True)
    return wide.join(pl.DataFrame({"method": order}).with_row_index("_o"), on="method").sort("_o").drop("_o")


def render(stages: Mapping[str, StageFiles]) -> str:
    """The report of one set of materializations (``stages``: stage name -> its files)."""
    missing = [s for s in ("splits", "metrics") if s not in stages]
    if missing:
        raise FileNotFoundError(f"not materialized yet: {', '.join(missing)} (run `make demo`)")
    lines = []
    metrics_files = stages["metrics"]
    with pl.Config(tbl_rows=50, tbl_cols=20, float_precision=4, tbl_hide_dataframe_shape=True, tbl_width_chars=200):
        lines += ["Table 1: the real-life split", str(pl.read_parquet(stages["splits"]["table1"])), ""]
        metrics = pl.read_parquet(metrics_files["metrics"])
        for experiment, title in (("exp1", "Experiment 1: similar-song retrieval"), ("exp2", "Experiment 2: recommendation")):
            for measure in ("recall", "precision"):
                lines += [f"{title}: {measure}@k", str(metrics_table(metrics, measure, experiment)), ""]
        lines += ["The paper's orderings, judged by non-overlapping 95 % bootstrap intervals of recall@k",
                  str(pl.read_parquet(metrics_files["verdicts"])), ""]
        if "als_tuning" in stages:
            best = pl.read_csv(stages["als_tuning"]["grid"]).row(0, named=True)
            lines += [f"ALS chosen on validation: regularization={best['regularization']}, confidence_scale={best['confidence_scale']}, "
                      f"iterations={best['iterations']} (validation score {best['score']:.4f})", ""]
    lines.append("Evaluation notes: " + ", ".join(f"{k}={v}" for k, v in read_json(metrics_files["notes"]).items()))
    if "behaviour" in stages:
        b = read_json(stages["behaviour"]["summary"])
        lines.append(
            f"Behaviour of {b['users']} users (128-d space): {100 * b['share_dynamic']:.0f}% dynamic preference, "
            f"{100 * b['share_device_related']:.0f}% device-related, {100 * b['share_time_related']:.0f}% time-related"
        )
        if "truth_preference_accuracy" in b:
            lines.append(
                f"  against the planted truth: preference {b['truth_preference_accuracy']:.3f}, device {b['truth_device_accuracy']:.3f}, "
                f"time {b['truth_time_accuracy']:.3f} (accuracy)"
            )
    if "explorer" in stages:
        lines.append(f"Interactive explorer (open in a browser, works offline): {stages['explorer']['html']}")
    if "plots" in stages:
        figures = sorted(stages["plots"].folder.glob(stages["plots"].series("figure", "*").name))
        lines.append("Figures:")
        lines += [f"  {p}" for p in figures]
    return "\n".join(lines)
