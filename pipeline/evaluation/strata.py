"""Where each method wins: recall@k of every method by strata of the test queries and of the songs to find.

- ``song popularity``: recall counted on the relevant songs of one popularity tier only (a query without
  relevant songs in the tier is left out of it). The tiers split the catalogue by train play count into
  thirds of all plays: ``head`` (the most-played songs that take the first third), ``torso``, ``tail``.
- ``session length``: the test session's distinct songs, in tertiles of the test queries.
- ``user activity``: the user's train plays (events; the split gives every user the same number of train
  sessions, so sessions would not tell users apart), in tertiles of the test queries.
- ``preference``, ``device-related``, ``time-related``: the user's kinds as the ``behaviour`` asset measured
  them in the latent space (single or dynamic preference; whether their sessions' places follow the device, the
  hour), so the strata exist for a real log too; users it did not measure are left out.
A stratum of counts is labelled with its range, so the table reads on its own (``short (2-8 songs)``).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.evaluation.measures import hits_of, ranking_metrics

TIERS = ("head", "torso", "tail")


def popularity_tiers(counts: np.ndarray) -> np.ndarray:
    """Each song's tier (0 head, 1 torso, 2 tail): by play count, the songs that take each third of the plays."""
    order = np.argsort(-counts, kind="stable")
    share = np.cumsum(counts[order]) / counts.sum()
    tier = np.empty(len(counts), np.int64)
    tier[order] = np.minimum((np.concatenate([[0.0], share[:-1]]) * 3).astype(np.int64), 2)
    return tier


def tertiles(values: np.ndarray, names: tuple[str, str, str], unit: str) -> np.ndarray:
    """Labels of the low, middle and high third of ``values`` (ties kept together), with each stratum's range."""
    lo, hi = np.quantile(values, [1 / 3, 2 / 3])
    which = np.where(values <= lo, 0, np.where(values <= hi, 1, 2))
    labels = np.empty(len(values), dtype=object)
    for i, name in enumerate(names):
        chosen = values[which == i]
        if chosen.size:
            labels[which == i] = f"{name} ({int(chosen.min())}-{int(chosen.max())} {unit})"
    return labels


def query_strata(exp2_relevant: sp.csr_matrix, users: list[str], train_sessions: pl.DataFrame | None,
                 behaviour: pl.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Each query's stratum of session length; of its user's activity when the train sessions are given; of its
    user's kinds when the behaviour table (user_id, preference, device_related, time_related) is."""
    strata = {"session length": tertiles(exp2_relevant.getnnz(axis=1), ("short", "medium", "long"), "songs")}
    if train_sessions is not None:
        plays = "n_songs" in train_sessions.columns  # else (a table without it) its sessions
        per_user = dict(train_sessions.group_by("user_id").agg(pl.col("n_songs").sum() if plays else pl.len()).iter_rows())
        activity = np.array([per_user.get(u, 0) for u in users])
        strata["user activity"] = tertiles(activity, ("light", "medium", "heavy"), "train plays" if plays else "train sessions")
    if behaviour is not None:
        kinds = {r["user_id"]: r for r in behaviour.iter_rows(named=True)}
        strata["preference"] = np.array([f"{kinds[u]['preference']} preference" if u in kinds else None for u in users], dtype=object)
        for column, kind in (("device_related", "device-related"), ("time_related", "time-related")):
            strata[kind] = np.array([(kind if kinds[u][column] else f"not {kind}") if u in kinds else None for u in users],
                                    dtype=object)
    return strata


def stratified(experiment: str, method: str, top: np.ndarray, relevant: sp.csr_matrix, recall: dict[int, np.ndarray],
               strata: dict[str, np.ndarray], tiers: np.ndarray | None, k_values, hits: np.ndarray | None = None) -> list[dict]:
    """Rows (experiment, method, stratum kind, stratum, k, recall, queries) for one method's rankings (``hits``:
    ``hits_of(top, relevant)``, when the caller has it)."""
    rows = []

    def add(kind: str, label: str, per_query: dict[int, np.ndarray], mask: np.ndarray) -> None:
        for k in k_values:
            values = per_query[k][mask]
            values = values[~np.isnan(values)]
            rows.append({"experiment": experiment, "method": method, "stratum_kind": kind, "stratum": label, "k": k,
                         "recall": float(values.mean()) if values.size else float("nan"), "queries": int(values.size)})

    everyone = np.ones(relevant.shape[0], bool)
    if tiers is not None:
        hits = hits_of(top, relevant) if hits is None else hits
        top_tier = tiers[top]
        for t, name in enumerate(TIERS):
            in_tier = (relevant @ sp.diags((tiers == t).astype(np.float64))).tocsr()
            in_tier.eliminate_zeros()  # an entry of top hits in_tier when it hits relevant and is of the tier
            add("song popularity", name, ranking_metrics(top, in_tier, k_values, hits=hits & (top_tier == t))["recall"], everyone)
    for kind, labels in strata.items():
        for label in dict.fromkeys(sorted(labels[labels != None], key=_range_start)):  # noqa: E711
            add(kind, label, recall, labels == label)
    return rows


def _range_start(label: str) -> tuple:
    """Strata of counts in the order of their ranges; named ones by name."""
    return (int(label.split("(")[1].split("-")[0]), "") if "(" in label else (0, label)
