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


def read_table(path, drop: tuple[str, ...] = (), n_rows: int | None = None) -> pl.DataFrame:
    """A stage's Parquet or CSV table (for display): its first ``n_rows`` (all: None), without the columns ``drop``."""
    frame = pl.read_csv(path, n_rows=n_rows) if str(path).endswith(".csv") else pl.read_parquet(path, n_rows=n_rows)
    return frame.drop(*[c for c in drop if c in frame.columns])


def pairs_table(pairs: Mapping, key: str, value: str, counts: bool = False) -> pl.DataFrame:
    """A mapping as a two-column table (``key``, ``value``), for display; with ``counts``, the values are counts,
    largest first."""
    frame = pl.DataFrame({key: list(pairs), value: list(pairs.values())}, schema={key: pl.String, value: pl.Int64 if counts else pl.String})
    return frame.sort(value, descending=True, maintain_order=True) if counts else frame


def metrics_frames(files: StageFiles) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The metrics stage's metrics, strata and ordering verdicts."""
    return tuple(pl.read_parquet(files[key]) for key in ("metrics", "strata", "verdicts"))


BEYOND = ("coverage", "popularity", "novelty", "rare", "heard")  # and diversity_<tag>


def metrics_tables(table: pl.DataFrame, strata: pl.DataFrame, k_values, k: int) -> dict[str, pl.DataFrame]:
    """The metrics asset's tables: recall, precision and NDCG of both experiments at every other k (so that they fit
    without scrolling sideways; every k is in metrics.csv and MLflow), the beyond-accuracy measures at ``k``, and
    recall@k by stratum, a column per stratum, one table per experiment and kind of stratum."""
    shown = table.filter(pl.col("k").is_in(list(k_values)[::2]))
    tables = {f"Exp {e[-1]} {label}@k": metrics_table(shown, measure, e)
              for measure, label in (("recall", "recall"), ("precision", "precision"), ("ndcg", "NDCG")) for e in ("exp1", "exp2")}
    beyond = [c for c in table.columns if c in BEYOND or c.startswith("diversity_")]
    tables[f"beyond accuracy @{k}"] = table.filter(pl.col("k") == k).select("experiment", "method", *beyond)
    for (experiment, kind), part in strata.filter(pl.col("k") == k).group_by("experiment", "stratum_kind", maintain_order=True):
        tables[f"Exp {experiment[-1]} recall@{k} by {kind}"] = part.pivot("stratum", index="method", values="recall", sort_columns=False)
    return tables


WIDTH = 100  # the report's lines fit a terminal this wide (file paths aside)


def wrapped(head: str, items: list[str], indent: str = "  ") -> list[str]:
    """``head`` then ``items`` joined by semicolons (numbers have commas), wrapped to ``WIDTH`` columns."""
    import textwrap

    return textwrap.wrap(head + "; ".join(items), WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [head]


def verdict_lines(verdicts: pl.DataFrame) -> list[str]:
    """One line an ordering: ``exp1  proposed > MF   holds      9 of 9 k separated as claimed (k >= 10)``."""
    width = max((len(o) for o in verdicts["ordering"]), default=0)
    return [f"  {r['experiment']}  {r['ordering']:<{width}}  {r['verdict']:<13}  {r['k_separated_as_claimed']} of {r['k_total']} k as "
            f"claimed, {r['k_separated_reversed']} reversed (k {r['k']})" for r in verdicts.iter_rows(named=True)]


def render(stages: Mapping[str, StageFiles]) -> str:
    """The report of one set of materializations (``stages``: stage name -> its files), in lines of at most ``WIDTH``
    columns (file paths aside): Table 1, recall@k of both experiments at every other k, the paper's orderings judged,
    the ALS point chosen, the behaviour scores and where the explorer, the figures and every figure's numbers are."""
    missing = [s for s in ("splits", "metrics") if s not in stages]
    if missing:
        raise FileNotFoundError(f"not materialized yet: {', '.join(missing)} (run `make demo`)")
    lines = []
    metrics_files = stages["metrics"]
    metrics = pl.read_parquet(metrics_files["metrics"])
    shown = sorted(metrics["k"].unique())[::2]
    with pl.Config(tbl_rows=50, tbl_cols=20, float_precision=4, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   tbl_width_chars=WIDTH):
        lines += ["Table 1: the real-life split", str(pl.read_parquet(stages["splits"]["table1"])), ""]
        for experiment, title in (("exp1", "Experiment 1, similar-song retrieval"), ("exp2", "Experiment 2, recommendation")):
            lines += [f"{title}: recall@k", str(metrics_table(metrics.filter(pl.col("k").is_in(shown)), "recall", experiment)), ""]
    lines += [f"Every k, precision, NDCG, hit rate and their 95 % intervals: {metrics_files['metrics_csv']}", "",
              "The paper's orderings, judged by non-overlapping 95 % intervals of recall@k:",
              *verdict_lines(pl.read_parquet(metrics_files["verdicts"])), ""]
    if "als_tuning" in stages:
        best = pl.read_csv(stages["als_tuning"]["grid"]).row(0, named=True)
        lines += wrapped("ALS chosen on validation: ", [f"regularization {best['regularization']}", f"confidence scale {best['confidence_scale']}",
                                                        f"{best['iterations']} iterations (score {best['score']:.4f})"])
    notes = read_json(metrics_files["notes"])
    lines += wrapped("Evaluation: ", [f"{k.replace('_', ' ')} {v:,}" for k, v in notes.items() if not k.endswith(".seconds")])
    if "behaviour" in stages:
        b = read_json(stages["behaviour"]["summary"])
        lines.append(f"Behaviour of {b['users']} users (128-d space): {100 * b['share_dynamic']:.0f}% dynamic preference, "
                     f"{100 * b['share_device_related']:.0f}% device-related, {100 * b['share_time_related']:.0f}% time-related")
        if "truth_preference_accuracy" in b:
            lines.append(f"  against the planted truth: preference {b['truth_preference_accuracy']:.3f}, device "
                         f"{b['truth_device_accuracy']:.3f}, time {b['truth_time_accuracy']:.3f} (accuracy)")
    if "explorer" in stages:
        lines += ["Interactive explorer (open in a browser, works offline):", f"  {stages['explorer']['html']}"]
    if "plots" in stages:
        figures = sorted(stages["plots"].folder.glob(stages["plots"].series("figure", "*").name))
        lines += [f"Figures in {stages['plots'].folder}:", *wrapped("  ", [p.name for p in figures], indent="  ")]
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
    from pipeline.evaluation.measures import PAPER_ORDERINGS, ordering_verdicts

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
