"""Listening behaviour of every user, measured in the latent space (the paper shows it with a few
hand-picked pictures; this measures it for everyone).

Measured in the 128-d space: the 2-d one is for the eye and folds distinct tastes onto each other.
For each user, over their training sessions' vectors:

- **preference spread**: the silhouette of a 2-means split of the sessions. A single taste gives one
  blob (low silhouette); several tastes give separate groups (high). Users are called *dynamic*
  above a threshold set from the population: Otsu's split of the log-silhouettes (single-taste
  silhouettes sit an order of magnitude below dynamic ones, and a linear split is pulled up by the
  wide dynamic tail: on a 1M-event log it classified 0.81 correctly, the log split 0.96). It
  assumes both kinds are present; the threshold is reported. For dynamic users, the number of clusters is the
  k in 2..4 with the best silhouette.
- **device relevance**: leave-one-out 5-NN classification of each session's device from its
  neighbours; accuracy against the same under permuted devices (a permutation test, seeded).
  Related when p < alpha. A user with one device cannot be device-related.
- **time relevance**: the same with the hour of day, on the circle: each session's hour predicted as
  the circular mean of its neighbours' hours, scored by the mean cosine of the error.
The neighbours do not depend on the labels, so each permutation costs only a relabelling.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

import numpy as np
import polars as pl

from pipeline import defaults
from pipeline.analysis.views import space_view
from pipeline.contract import StageFiles
from pipeline.io import write_json

NEIGHBOURS = 5
PERMUTATIONS = 199
ALPHA = 0.01
BLOCK = 256  # users whose vectors are sent to the workers at a time


def _neighbours(x: np.ndarray, k: int) -> np.ndarray:
    sq = np.einsum("ij,ij->i", x, x)
    d = sq[:, None] + sq[None, :] - 2 * x @ x.T
    np.fill_diagonal(d, np.inf)
    k = min(k, len(x) - 1)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def _knn_accuracy(nn: np.ndarray, labels: np.ndarray) -> np.ndarray | float:
    """Share of sessions whose label is the majority label of their neighbours (ties: the lowest label), for one
    labelling (sessions) or for each row of a batch of them (labellings x sessions)."""
    votes = labels[..., nn]  # (labellings x) sessions x k
    n_classes = int(labels.max()) + 1
    counts = (votes[..., None] == np.arange(n_classes)).sum(axis=-2)
    accuracy = (counts.argmax(axis=-1) == labels).mean(axis=-1)
    return float(accuracy) if labels.ndim == 1 else accuracy


def _circular_score(nn: np.ndarray, angles: np.ndarray) -> np.ndarray | float:
    """Mean cosine between each session's angle and the circular mean of its neighbours', for one set of angles
    (sessions) or for each row of a batch (sets x sessions)."""
    m = np.arctan2(np.sin(angles[..., nn]).mean(axis=-1), np.cos(angles[..., nn]).mean(axis=-1))
    score = np.cos(angles - m).mean(axis=-1)
    return float(score) if angles.ndim == 1 else score


def permutation_test(score, nn: np.ndarray, labels: np.ndarray, rng: np.random.Generator, permutations: int) -> tuple[float, float, float]:
    """(observed score, mean score under permuted labels, p-value). The permutations are drawn one after another
    from ``rng`` and scored together."""
    observed = score(nn, labels)
    null = score(nn, np.stack([rng.permutation(labels) for _ in range(permutations)]))
    return observed, float(null.mean()), float((1 + (null >= observed - 1e-12).sum()) / (permutations + 1))


def cluster_silhouettes(x: np.ndarray, seed: int, max_k: int = 4) -> dict[int, float]:
    """Silhouette of k-means for k = 2..max_k (k-means seeded)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    out = {}
    for k in range(2, min(max_k, len(x) - 1) + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = KMeans(k, n_init=4, random_state=seed).fit_predict(x)
        out[k] = float(silhouette_score(x, labels)) if len(set(labels)) > 1 else 0.0
    return out


def otsu_threshold(values: np.ndarray) -> float:
    """The cut of 1-D values that maximises the between-group variance (O(n log n), by prefix sums)."""
    v = np.sort(values[np.isfinite(values)]).astype(np.float64)
    if len(v) < 2:
        return float("inf")
    n = len(v)
    i = np.arange(1, n)  # the lower group is v[:i]
    prefix = np.cumsum(v)[:-1]
    mean_a = prefix / i
    mean_b = (v.sum() - prefix) / (n - i)
    between = i * (n - i) * (mean_a - mean_b) ** 2
    best = int(np.argmax(between))  # first maximum, as the loop it replaces
    return float((v[best] + v[best + 1]) / 2)


def log_otsu_threshold(values: np.ndarray, floor: float = 1e-6) -> float:
    """Otsu's cut of log(values), returned on the original scale."""
    return float(np.exp(otsu_threshold(np.log(np.maximum(np.asarray(values, dtype=np.float64), floor)))))


def measure_user(user: str, index: int, x: np.ndarray, devices: np.ndarray, hours: np.ndarray, seed: int = defaults.SEED,
                 permutations: int = PERMUTATIONS) -> dict:
    """One user's row of ``analyse_users``, from their sessions' vectors ``x``, devices and hours of day; ``index``
    (the user's place among the users analysed) seeds their permutations."""
    rng = np.random.default_rng([seed, index])
    nn = _neighbours(x, NEIGHBOURS)
    sil = cluster_silhouettes(x, seed)
    row = {"user_id": user, "sessions": len(x), "spread": float(np.linalg.norm(x - x.mean(0), axis=1).mean()),
           "silhouette": sil.get(2, 0.0), "best_k": max(sil, key=sil.get) if sil else 1}
    kinds, device_labels = np.unique(devices, return_inverse=True)
    row["devices"] = len(kinds)
    if len(kinds) > 1:
        acc, chance, p = permutation_test(_knn_accuracy, nn, device_labels, rng, permutations)
    else:
        acc, chance, p = float("nan"), float("nan"), 1.0
    row.update(device_accuracy=acc, device_chance=chance, device_p=p)
    score, chance, p = permutation_test(_circular_score, nn, hours / 24 * 2 * np.pi, rng, permutations)
    row.update(time_score=score, time_chance=chance, time_p=p)
    return row


def _measure(task: tuple, seed: int, permutations: int) -> dict:
    return measure_user(*task, seed=seed, permutations=permutations)


def _one_thread():
    """A worker measures one user at a time on its own core: no thread pools inside it (k-means, BLAS); returns
    the limiter (``restore_original_limits()`` undoes it).

    threadpoolctl limits only the libraries loaded when it is called: scikit-learn's OpenMP runtime is loaded
    first, else each k-means ran on every core beside the other worker's (measured: 108 ms a user, not 20)."""
    import sklearn.cluster  # noqa: F401  (loads the OpenMP runtime its k-means uses)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def analyse_users(
    sessions: pl.DataFrame,
    vectors: np.ndarray,
    seed: int = defaults.SEED,
    permutations: int = PERMUTATIONS,
    alpha: float = ALPHA,
    min_sessions: int = defaults.BEHAVIOUR_MIN_SESSIONS,
    max_users: int | None = None,
    log=None,
    workers: int | None = None,
) -> tuple[pl.DataFrame, dict]:
    """One row per user. ``sessions``: user_id, device, start (datetime), vertex (row of ``vectors``).

    ``max_users``: measure a seeded sample of this many users (the population shares then carry
    sampling error; the summary says how many were measured of how many). ``workers`` processes (default: one
    a core) measure the users, a block at a time; every user's row is the same whatever their number.
    """
    all_users = sessions["user_id"].unique(maintain_order=True)
    if max_users is not None and all_users.len() > max_users:
        keep = all_users.sample(max_users, seed=seed).sort()
        sessions = sessions.filter(pl.col("user_id").is_in(keep.implode()))
    sessions = sessions.with_columns(
        pl.col("device").fill_null(""),
        hour=pl.col("start").dt.hour().cast(pl.Float64) + pl.col("start").dt.minute().cast(pl.Float64) / 60,
    )
    users = sessions.partition_by("user_id", as_dict=True, maintain_order=True)
    tasks = [(user, i, s["vertex"].to_numpy(), s["device"].to_numpy(), s["hour"].to_numpy())
             for i, ((user,), s) in enumerate(users.items()) if s.height >= min_sessions]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    measure = partial(_measure, seed=seed, permutations=permutations)
    rows: list[dict] = []
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_one_thread) if workers > 1 else None
    limiter = None if pool else _one_thread()  # 80 sessions a user: threads inside a k-means cost more than they give
    try:
        for b in range(0, len(tasks), BLOCK):  # a block's vectors at a time go to the workers
            block = [(user, i, vectors[v].astype(np.float64), d, h) for user, i, v, d, h in tasks[b : b + BLOCK]]
            rows.extend(pool.map(measure, block, chunksize=max(1, len(block) // (4 * workers))) if pool else map(measure, block))
            if log:
                log(f"behaviour: {len(rows):,}/{len(tasks):,} users")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if limiter is not None:
            limiter.restore_original_limits()
    table = pl.DataFrame(rows)
    threshold = log_otsu_threshold(table["silhouette"].to_numpy())
    table = table.with_columns(
        pl.when(pl.col("silhouette") > threshold).then(pl.lit("dynamic")).otherwise(pl.lit("single")).alias("preference"),
        (pl.col("device_p") < alpha).alias("device_related"),
        (pl.col("time_p") < alpha).alias("time_related"),
    ).with_columns(pl.when(pl.col("preference") == "single").then(1).otherwise(pl.col("best_k")).alias("clusters"))
    summary = {
        "users": table.height,
        "users_in_train": all_users.len(),
        "silhouette_threshold": threshold,
        "share_dynamic": float((table["preference"] == "dynamic").mean()),
        "share_device_related": float(table["device_related"].mean()),
        "share_time_related": float(table["time_related"].mean()),
        "permutations": permutations,
        "alpha": alpha,
    }
    return table, summary


# Which of a summary's entries are the analysis's settings and which count the users it saw (the rest are findings).
SUMMARY_SETTINGS = ("permutations", "alpha")
SUMMARY_COUNTS = ("users", "users_in_train", "truth_users_checked")


def summary_parts(summary: dict) -> tuple[dict, dict, dict]:
    """A summary as (settings, counts, findings)."""
    part = {**dict.fromkeys(SUMMARY_SETTINGS, 0), **dict.fromkeys(SUMMARY_COUNTS, 1)}
    parts: tuple[dict, dict, dict] = ({}, {}, {})
    for key, value in summary.items():
        parts[part.get(key, 2)][key] = value
    return parts


def agreement_with_truth(table: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Accuracy of each classification against the generator's planted truth (kind, dependence)."""
    t = table.join(truth.select("user_id", "kind", "dependence"), on="user_id", how="inner")
    if t.is_empty():
        return {}
    return {
        "users_checked": t.height,
        "preference_accuracy": float((t["preference"] == t["kind"]).mean()),
        "device_accuracy": float((t["device_related"] == (t["dependence"] == "device")).mean()),
        "time_accuracy": float((t["time_related"] == (t["dependence"] == "time")).mean()),
    }


def behaviour(upstream: Mapping[str, StageFiles], out: StageFiles, log=None, *, seed: int = defaults.SEED, max_users: int = 0) -> dict:
    """The ``behaviour`` stage: ``analyse_users`` on the 128-d space (``max_users``: a seeded sample of that many, 0:
    all), checked against the planted truth when the log has one; writes every user's row and the summary, which it
    returns."""
    view = space_view(upstream, "embedding_uss")
    sessions = view.sessions.with_columns(pl.col("session_id").replace_strict(view.session_vertex, return_dtype=pl.Int64).alias("vertex"))
    table, summary = analyse_users(sessions, view.coords, seed=seed, max_users=max_users or None, log=log)
    truth_path = upstream["raw_events"]["truth_users"]
    if truth_path.exists():
        summary.update({f"truth_{k}": v for k, v in agreement_with_truth(table, pl.read_parquet(truth_path)).items()})
    table.write_parquet(out["users"])
    write_json(out["summary"], summary)
    return summary
