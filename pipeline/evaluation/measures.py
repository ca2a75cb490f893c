"""How good a ranking is (paper, Section 4.3): recall, precision, NDCG and hit rate at k, bootstrap
intervals of their means, and the verdicts on the paper's orderings of the methods.

Two bootstraps: of test sessions (``recall_lo``/``_hi``), and of users, each drawn with all their test
sessions (``recall_user_lo``/``_hi``). A user's sessions are alike, so resampling sessions as if they
were independent understates the uncertainty; the verdicts use the user-level intervals."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline import defaults
from pipeline.sparse import in_rows

MEASURES = ("recall", "precision", "ndcg", "hit_rate")


def ranking_metrics(top: np.ndarray, relevant: sp.csr_matrix, k_values=defaults.K_VALUES,
                    hits: np.ndarray | None = None) -> dict[str, dict[int, np.ndarray]]:
    """Per-query recall, precision, NDCG and hit rate at each k (NaN for a query with no relevant song).

    recall@k = hits in the top k / relevant songs; precision@k = hits / k; hit rate@k = 1 if any
    hit; NDCG@k = sum of 1/log2(rank+1) over hits, divided by its best possible value.
    ``hits`` (``hits_of(top, relevant)``), when the caller has it already, is not worked out again.
    """
    hits = hits_of(top, relevant) if hits is None else hits
    k_values = list(k_values)
    width = top.shape[1]
    cols = np.array([min(k, width) - 1 for k in k_values])
    discount = 1.0 / np.log2(np.arange(2, width + 2))
    # the hits and their discounted gains up to each k's column, by one product with a ranks x k indicator
    upto = (np.arange(width)[:, None] <= cols[None, :]).astype(np.float64)
    gains = hits.astype(np.float64)
    hits_at, dcg_at = gains @ upto, gains @ (upto * discount[:, None])
    ideal = np.cumsum(discount)
    n_rel = np.diff(relevant.indptr).astype(np.int64)
    valid = n_rel > 0
    out: dict[str, dict[int, np.ndarray]] = {m: {} for m in MEASURES}
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, k in enumerate(k_values):
            h = hits_at[:, i]
            out["recall"][k] = np.where(valid, h / n_rel, np.nan)
            out["precision"][k] = np.where(valid, h / k, np.nan)
            out["hit_rate"][k] = np.where(valid, (h > 0).astype(np.float64), np.nan)
            best = ideal[np.minimum(n_rel, cols[i] + 1) - 1]
            out["ndcg"][k] = np.where(valid, dcg_at[:, i] / best, np.nan)
    return out


def hits_of(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Whether each entry of ``top`` (queries x ranks, item indices) is relevant to its query (a row of ``relevant``)."""
    if top.shape[0] != relevant.shape[0]:
        raise ValueError(f"{top.shape[0]} rankings for {relevant.shape[0]} queries")
    relevant = relevant if relevant.has_sorted_indices else relevant.sorted_indices()
    return in_rows(top, np.arange(top.shape[0]), relevant.indptr, relevant.indices)


def bootstrap_means(per_query: np.ndarray, samples: int, seed: int, chunk: int = 50, groups: np.ndarray | None = None) -> np.ndarray:
    """The resampled means of each row of ``per_query`` (rows x queries): a samples x rows array.

    Poisson bootstrap (each query drawn Poisson(1) times per resample), seeded, and the same
    resamples for every row: rows (methods at one k) are compared on the same draws of queries.
    With ``groups`` (each query's group number, 0..G-1: its user), whole groups are drawn instead:
    every query of a group gets its group's weight (a cluster bootstrap). A NaN (a query a row has
    no value for) weighs nothing in its row's mean.
    """
    rows, n = per_query.shape
    stream = defaults.STREAM_BOOTSTRAP if groups is None else defaults.STREAM_BOOTSTRAP_USERS
    rng = np.random.default_rng([seed, stream])
    n_draws = n if groups is None else int(groups.max()) + 1
    valid = ~np.isnan(per_query)
    values = np.where(valid, per_query, 0.0) if not valid.all() else per_query
    means = np.empty((samples, rows))
    for b in range(0, samples, chunk):
        w = rng.poisson(1.0, size=(min(chunk, samples - b), n_draws)).astype(np.float64)
        if groups is not None:
            w = w[:, groups]
        weight = w.sum(axis=1, keepdims=True) if values is per_query else w @ valid.T.astype(np.float64)
        means[b : b + len(w)] = (w @ values.T) / np.maximum(weight, 1.0)
    return means


def bootstrap_intervals(
    per_query: np.ndarray, samples: int, seed: int, level: float = 0.95, chunk: int = 50, groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of the mean of each row of ``per_query`` (rows x queries) over ``bootstrap_means``."""
    if samples <= 0 or per_query.shape[1] == 0:
        nan = np.full(per_query.shape[0], np.nan)
        return nan, nan
    means = bootstrap_means(per_query, samples, seed, chunk, groups)
    alpha = (1.0 - level) / 2
    return np.quantile(means, alpha, axis=0), np.quantile(means, 1 - alpha, axis=0)


def summarize(per_method: dict[str, dict[str, dict[int, np.ndarray]]], experiment: str, bootstrap_samples: int, seed: int,
              users: np.ndarray | None = None) -> list[dict]:
    """Mean of every measure at every k for each method, with bootstrap intervals on recall and precision: of
    sessions, and, with ``users`` (each query's user), of users (``<measure>_user_lo``/``_hi``).

    A query counts where the first method has a value (a query without relevant songs has none, at any k, for
    any method). Every (k, measure, method) row is resampled on the same draws, made once: the intervals are
    those of resampling each k and measure on its own with the same seed, at a fraction of the draws."""
    methods = list(per_method)
    any_method = per_method[methods[0]]
    k_values = list(any_method["recall"])
    valid = ~np.isnan(any_method["recall"][k_values[0]])
    if not all(np.array_equal(valid, ~np.isnan(any_method["recall"][k])) for k in k_values):
        raise ValueError(f"{experiment}: the queries without a value differ between k")
    keys = [(k, measure, m) for k in k_values for measure in ("recall", "precision") for m in methods]
    matrix = np.stack([per_method[m][measure][k][valid] for k, measure, m in keys])
    intervals = {"": bootstrap_intervals(matrix, bootstrap_samples, seed)}
    if users is not None:
        intervals["_user"] = bootstrap_intervals(matrix, bootstrap_samples, seed, groups=np.unique(users[valid], return_inverse=True)[1])
    del matrix
    row_of = {key: i for i, key in enumerate(keys)}
    rows = []
    for k in k_values:
        for method in methods:
            row = {"experiment": experiment, "method": method, "k": k}
            for measure in MEASURES:
                row[measure] = float(np.mean(per_method[method][measure][k][valid])) if valid.any() else float("nan")
                if (k, measure, method) in row_of:
                    for level, (lo, hi) in intervals.items():
                        row[f"{measure}{level}_lo"] = float(lo[row_of[k, measure, method]])
                        row[f"{measure}{level}_hi"] = float(hi[row_of[k, measure, method]])
            row["queries"] = int(valid.sum())
            rows.append(row)
    return rows


# The paper's orderings (Section 4.3): (experiment, better, worse, smallest k it is claimed for).
PAPER_ORDERINGS = (
    ("exp1", "proposed", "U-S", 0),
    ("exp1", "proposed", "MF", 0),
    ("exp1", "U-S", "MF", 0),
    ("exp1", "popularity", "random", 0),
    ("exp2", "proposed-device", "proposed-user", 0),
    ("exp2", "proposed-user", "MF", 21),
)


def ordering_verdicts(metrics: pl.DataFrame, orderings=PAPER_ORDERINGS, measure: str = "recall") -> pl.DataFrame:
    """For each ordering, at how many k its intervals separate in the claimed or the opposite direction: by the
    user-level intervals where the table has them (``interval``: users), else by the session-level ones; with
    both, ``verdict_by_sessions`` is what the session-level intervals would say."""
    users = f"{measure}_user_lo" in metrics.columns
    rows = []
    for experiment, better, worse, k_min in orderings:
        data = metrics.filter((pl.col("experiment") == experiment) & (pl.col("k") >= k_min))
        a = data.filter(pl.col("method") == better).sort("k")
        b = data.filter(pl.col("method") == worse).sort("k")
        if a.is_empty() or b.is_empty():
            continue
        holds, reversed_, verdict = _separation(a, b, f"{measure}_user" if users else measure)
        row = {"experiment": experiment, "ordering": f"{better} > {worse}", "k": f">= {max(k_min, int(a['k'].min()))}",
               "k_separated_as_claimed": holds, "k_separated_reversed": reversed_, "k_total": a.height, "verdict": verdict,
               "interval": "users" if users else "sessions"}
        if users:
            row["verdict_by_sessions"] = _separation(a, b, measure)[2]
        rows.append(row)
    return pl.DataFrame(rows)


def _separation(a: pl.DataFrame, b: pl.DataFrame, interval: str) -> tuple[int, int, str]:
    """At how many k a's interval lies above b's, and below it; and the verdict that makes."""
    holds = int((a[f"{interval}_lo"] > b[f"{interval}_hi"]).sum())
    reversed_ = int((b[f"{interval}_lo"] > a[f"{interval}_hi"]).sum())
    n = a.height
    return holds, reversed_, ("holds" if holds == n else "reversed" if reversed_ == n
                              else "not separable" if holds == reversed_ == 0 else "mixed")

