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


# Head-to-heads of the latent space against the tuned baselines, at every k: (experiment, better, worse, smallest k).
HEAD_TO_HEAD = (
    ("exp1", "proposed", "MF", 0),
    ("exp1", "proposed", "SKNN", 0),
    ("exp2", "proposed-user", "MF", 0),
    ("exp2", "proposed-user", "SKNN-user", 0),
    ("exp2", "proposed-device", "SKNN-device", 0),
)
HEADLINE = (("exp1", ("proposed", "MF", "SKNN")), ("exp2", ("proposed-user", "proposed-device", "MF", "SKNN-user")))


def claims_table(runs: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """One row a claim, one column a run (``runs``: label -> its metrics table): the paper's orderings and the
    head-to-heads against the tuned baselines, judged as the metrics stage judges (``ordering_verdicts``: user-level
    intervals where the table has them), each cell the verdict and at how many k it separates which way."""
    from pipeline.measures import PAPER_ORDERINGS, ordering_verdicts

    columns = {}
    for label, metrics in runs.items():
        verdicts = ordering_verdicts(metrics, (*PAPER_ORDERINGS, *HEAD_TO_HEAD))
        smallest = f">= {int(metrics['k'].min())}"
        columns[label] = {(r["experiment"], r["ordering"], "" if r["k"] == smallest else f", k {r['k']}"): _cell(r)
                          for r in verdicts.iter_rows(named=True)}
    claims = list(dict.fromkeys(key for cells in columns.values() for key in cells))
    return pl.DataFrame([{"claim": f"{'Exp. 1' if e == 'exp1' else 'Exp. 2'} {o}{ks}", **{label: cells.get((e, o, ks), "—")
                          for label, cells in columns.items()}} for e, o, ks in claims])


def _cell(verdict: dict) -> str:
    v, n = verdict["verdict"], verdict["k_total"]
    if v == "mixed":
        return f"mixed: ahead at {verdict['k_separated_as_claimed']}, behind at {verdict['k_separated_reversed']} of {n} k"
    return v if v != "not separable" else f"not separable ({n} k)"


def headline_table(runs: Mapping[str, pl.DataFrame], k: int = 20) -> pl.DataFrame:
    """recall@k with its user-level 95 % interval of the latent space and the tuned baselines, one column a run."""
    rows = []
    for experiment, methods in HEADLINE:
        for method in methods:
            row = {"recall@%d" % k: f"{'Exp. 1' if experiment == 'exp1' else 'Exp. 2'} {method}"}
            for label, metrics in runs.items():
                r = metrics.filter((pl.col("experiment") == experiment) & (pl.col("method") == method) & (pl.col("k") == k))
                lo, hi = ("recall_user_lo", "recall_user_hi") if "recall_user_lo" in r.columns else ("recall_lo", "recall_hi")
                row[label] = "—" if r.is_empty() else f"{r['recall'][0]:.3f} ({r[lo][0]:.3f}–{r[hi][0]:.3f})"
            rows.append(row)
    return pl.DataFrame(rows)


def markdown(frame: pl.DataFrame) -> str:
    """A frame as a Markdown table (every cell as text)."""
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    return "\n".join(lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows()])
