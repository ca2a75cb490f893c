"""The claims table across runs (pipeline.analysis.report), on hand-made metrics whose verdicts are known."""

import polars as pl

from pipeline.analysis.report import claims_table, headline_table, markdown


def _rows(experiment: str, method: str, recalls: dict[int, tuple[float, float, float]]) -> list[dict]:
    return [{"experiment": experiment, "method": method, "k": k, "recall": r, "recall_lo": lo, "recall_hi": hi,
             "recall_user_lo": lo, "recall_user_hi": hi} for k, (r, lo, hi) in recalls.items()]


def test_each_claim_is_judged_per_run_by_its_intervals():
    # run a: proposed above MF at both k, level with SKNN; run b: proposed below MF at k=20 only
    a = pl.DataFrame(_rows("exp1", "proposed", {10: (0.5, 0.45, 0.55), 20: (0.6, 0.55, 0.65)})
                     + _rows("exp1", "MF", {10: (0.3, 0.25, 0.35), 20: (0.4, 0.35, 0.45)})
                     + _rows("exp1", "SKNN", {10: (0.5, 0.44, 0.56), 20: (0.6, 0.54, 0.66)}))
    b = pl.DataFrame(_rows("exp1", "proposed", {10: (0.3, 0.25, 0.35), 20: (0.3, 0.25, 0.35)})
                     + _rows("exp1", "MF", {10: (0.3, 0.26, 0.36), 20: (0.5, 0.45, 0.55)}))
    table = claims_table({"a": a, "b": b})
    cells = {row["claim"]: (row["a"], row["b"]) for row in table.iter_rows(named=True)}
    assert cells["Exp. 1 proposed > MF"] == ("holds", "mixed: ahead at 0, behind at 1 of 2 k")
    assert cells["Exp. 1 proposed > SKNN"] == ("not separable (2 k)", "—")  # run b has no SKNN
    headline = headline_table({"a": a, "b": b}, k=20)
    assert headline.filter(pl.col("recall@20") == "Exp. 1 MF").row(0) == ("Exp. 1 MF", "0.400 (0.350–0.450)", "0.500 (0.450–0.550)")
    assert markdown(headline).splitlines()[1] == "|---|---|---|"
