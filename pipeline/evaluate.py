"""Retrieval evaluation of the paper (Section 4.3): recall and precision at k.

Experiment 1, similar-song retrieval: the first song of a test session is the query; the other
distinct songs of that session are relevant; the query song itself is never retrieved.

Experiment 2, recommendation: a vector standing for the listener queries; every distinct song of
the test session is relevant; nothing is excluded (people replay songs they know). The queries:
the user's vector (``proposed-user``), or ``proposed-device``: the user's *latest* training
session on the same device as the test session -- the session closest in time to the test
period in the same listening context; a test session whose device has no training session falls
back to the user's vector (counted).

Nearest songs are exact: batched matrix products and a partial sort. DeepWalk spaces rank by
Euclidean distance, MF by inner product.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from pipeline import defaults

EUCLIDEAN, DOT = "euclidean", "dot"


@dataclass
class TestQueries:
    sessions: pl.DataFrame  # session_id, user_id, device, start, query_song (index)
    exp1_relevant: sp.csr_matrix  # queries x songs
    exp2_relevant: sp.csr_matrix
    n_sessions_total: int

    @property
    def n(self) -> int:
        return self.sessions.height


def build_queries(
    test: pl.DataFrame,
    songs: list[str],
    max_sessions: int = defaults.MAX_TEST_SESSIONS,
    seed: int = defaults.SEED,
) -> TestQueries:
    """Sample up to ``max_sessions`` test sessions (seeded) and their relevant songs.

    ``songs`` is the catalogue of songs that can be retrieved (the train songs), in column order.
    """
    song_index = pl.DataFrame({"song_id": songs, "song": np.arange(len(songs), dtype=np.int64)})
    events = test.join(song_index, on="song_id", how="inner").sort(["session_id", "timestamp"], maintain_order=True)
    if events.height != test.height:
        raise ValueError(f"{test.height - events.height} test events have songs outside the catalogue")
    sessions = events.group_by("session_id", maintain_order=True).agg(
        pl.col("user_id").first(),
        pl.col("device").first(),
        pl.col("timestamp").first().alias("start"),
        pl.col("song").first().alias("query_song"),
    )
    total = sessions.height
    if total > max_sessions:
        keep = np.sort(np.random.default_rng([seed, 7]).choice(total, size=max_sessions, replace=False))
        sessions = sessions[keep]
    sessions = sessions.with_row_index("q")
    pairs = events.join(sessions.select("session_id", "q", "query_song"), on="session_id").select("q", "song", "query_song").unique()
    q, s = pairs["q"].to_numpy(), pairs["song"].to_numpy()
    shape = (sessions.height, len(songs))
    exp2 = sp.csr_matrix((np.ones(len(q), dtype=bool), (q, s)), shape=shape)
    other = s != pairs["query_song"].to_numpy()
    exp1 = sp.csr_matrix((np.ones(other.sum(), dtype=bool), (q[other], s[other])), shape=shape)
    exp1.sort_indices()
    exp2.sort_indices()
    return TestQueries(sessions=sessions.drop("q"), exp1_relevant=exp1, exp2_relevant=exp2, n_sessions_total=total)


QUERY_BATCH, ITEM_TILE = 512, 2_048  # nearest()'s scores at a time: 512 x 2,048 floats, 4 MB (one core's L2 here)


def nearest(
    queries: np.ndarray,
    items: np.ndarray,
    k: int,
    metric: str,
    exclude: np.ndarray | None = None,
    batch_size: int = QUERY_BATCH,
    tile: int = ITEM_TILE,
    workers: int | None = None,
) -> np.ndarray:
    """Indices of the ``k`` items nearest each query, nearest first (exact).

    ``exclude[i]`` (an item index, or -1 for none) is never returned for query i. Each of
    ``workers`` threads (default: one per core) takes every ``workers``-th batch of queries and
    scores it against a tile of items at a time with single-threaded BLAS, then folds the scores
    into each query's running top k with a compiled selection while they are still in its
    core's cache (batch x tile floats: 4 MB by default).
    """
    if metric not in (EUCLIDEAN, DOT):
        raise ValueError(f"unknown metric {metric!r}")
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    first, inverse = unique_rows(queries, exclude)
    if len(first) < len(queries):  # equal queries get equal answers: search each once
        sub_exclude = None if exclude is None else exclude[first]
        return nearest(queries[first], items, k, metric, sub_exclude, batch_size, tile, workers)[inverse]
    k = min(k, len(items) - (exclude is not None))
    items = np.ascontiguousarray(items, dtype=np.float32)
    euclidean = metric == EUCLIDEAN
    sq_norms = np.einsum("ij,ij->i", items, items) if euclidean else np.zeros(len(items), np.float32)
    out = np.empty((len(queries), k), dtype=np.int64)
    workers = max(1, min(workers or os.cpu_count() or 1, -(-len(queries) // batch_size)))

    def work(worker: int) -> None:
        rows = min(batch_size, len(queries))
        state = TopK(rows, k)
        buffer = np.empty(rows * min(tile, len(items)), dtype=np.float32)
        for b in range(worker * batch_size, len(queries), workers * batch_size):
            q = queries[b : b + batch_size]
            state.reset()
            for c in range(0, len(items), tile):
                block = items[c : c + tile]
                s = buffer[: len(q) * len(block)].reshape(len(q), len(block))
                np.matmul(q, block.T, out=s)
                if exclude is not None:
                    mask_excluded(s, exclude[b : b + batch_size] - c)
                # For Euclidean distance, ranking by 2 q.s - |s|^2 equals ranking by -|q - s|^2
                # (folded into the selection, so the scores are read once).
                state.update(s, c, sq_norms[c : c + tile], euclidean)
            out[b : b + len(q)] = state.indices[: len(q)]

    # BLAS and the selection both release the GIL; one BLAS thread per worker keeps each worker's
    # scores in its own core's cache (and keeps BLAS's own threads from competing with them).
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    return out


def unique_rows(queries: np.ndarray, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first of each distinct (query, excluded item) and, for every query, its distinct row."""
    keys = queries.reshape(len(queries), -1)
    if exclude is not None:
        keys = np.hstack([keys.view(np.uint8).reshape(len(keys), -1), np.asarray(exclude, np.int64)[:, None].view(np.uint8)])
    raw = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # keep first-seen order, so batches stay in input order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.ravel()]


BLOCK = 64  # columns checked at once against a row's current k-th best (see _top_k_update)


@numba.njit(nogil=True, cache=True)
def _top_k_update(scores, offset, sq_norms, euclidean, best, idx, sizes):
    # Row i's running top k: best[i, :sizes[i]] in descending order, their columns in idx.
    # Once k are held, each block of columns is first checked for any score above the current
    # k-th best, by counting them in a loop the compiler vectorizes; only a block with one is
    # walked a column at a time. After the first few blocks almost none has (a row of n columns
    # sees about k * ln(n / k) insertions), so most of the row is read at vector speed.
    k = best.shape[1]
    n = scores.shape[1]
    for i in range(scores.shape[0]):
        row = scores[i]
        size = sizes[i]
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            if size == k:
                worst = best[i, k - 1]
                above = 0
                if euclidean:
                    for j in range(start, stop):
                        above += np.float32(2.0) * row[j] - sq_norms[j] > worst
                else:
                    for j in range(start, stop):
                        above += row[j] > worst
                if above == 0:
                    continue
            for j in range(start, stop):
                v = np.float32(2.0) * row[j] - sq_norms[j] if euclidean else row[j]
                if size < k:
                    pos = size
                    size += 1
                elif v > best[i, k - 1]:
                    pos = k - 1
                else:
                    continue
                # insertion into the sorted (descending) buffer; ties keep the lower index first
                while pos > 0 and best[i, pos - 1] < v:
                    best[i, pos] = best[i, pos - 1]
                    idx[i, pos] = idx[i, pos - 1]
                    pos -= 1
                best[i, pos] = v
                idx[i, pos] = offset + j
        sizes[i] = size


class TopK:
    """Each of ``rows`` rows' k largest scores so far, fed a block of columns at a time."""

    def __init__(self, rows: int, k: int):
        self.best = np.empty((rows, k), dtype=np.float32)
        self.indices = np.empty((rows, k), dtype=np.int64)
        self.sizes = np.zeros(rows, dtype=np.int64)

    def reset(self) -> None:
        self.sizes[:] = 0

    def update(self, scores: np.ndarray, offset: int, sq_norms: np.ndarray, euclidean: bool) -> None:
        """Fold in ``scores`` (rows x columns, the columns numbered from ``offset``); Euclidean ranks by 2 * score - sq_norms."""
        rows = len(scores)
        _top_k_update(np.ascontiguousarray(scores, dtype=np.float32), offset, np.ascontiguousarray(sq_norms, dtype=np.float32),
                      euclidean, self.best[:rows], self.indices[:rows], self.sizes[:rows])


def mask_excluded(scores: np.ndarray, exclude: np.ndarray | None) -> None:
    """Set each row's excluded column (its index, or outside the columns for none) to -inf in place."""
    if exclude is not None:
        rows = np.flatnonzero((exclude >= 0) & (exclude < scores.shape[1]))
        scores[rows, exclude[rows]] = -np.inf


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def ranked_by_score(scores: np.ndarray, n_queries: int, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """The same ranking for every query (popularity), skipping each query's excluded item."""
    ranking = np.argsort(-scores, kind="stable")[: k + 1]
    top = np.tile(ranking, (n_queries, 1))
    if exclude is None:
        return top[:, :k]
    keep = top != exclude[:, None]
    # Each row drops its excluded item if present, else its (k+1)-th item.
    keep[~(~keep).any(axis=1), k] = False
    return top[keep].reshape(n_queries, k)


def random_ranking(n_items: int, n_queries: int, k: int, seed: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """``k`` distinct random items per query (seeded), never the excluded one."""
    rng = np.random.default_rng([seed, 11])
    keys = rng.random((n_queries, n_items), dtype=np.float32) if n_items * n_queries <= 50_000_000 else None
    if keys is not None:
        if exclude is not None:
            rows = np.flatnonzero(exclude >= 0)
            keys[rows, exclude[rows]] = -1.0
        return _top_k(keys, k)
    out = np.empty((n_queries, k), dtype=np.int64)
    for i in range(n_queries):
        picks = rng.choice(n_items, size=k + 1, replace=False)
        if exclude is not None:
            picks = picks[picks != exclude[i]]
        out[i] = picks[:k]
    return out


MEASURES = ("recall", "precision", "ndcg", "hit_rate")


def ranking_metrics(top: np.ndarray, relevant: sp.csr_matrix, k_values=defaults.K_VALUES) -> dict[str, dict[int, np.ndarray]]:
    """Per-query recall, precision, NDCG and hit rate at each k (NaN for a query with no relevant song).

    recall@k = hits in the top k / relevant songs; precision@k = hits / k; hit rate@k = 1 if any
    hit; NDCG@k = sum of 1/log2(rank+1) over hits, divided by its best possible value.
    """
    n_q, n_items = relevant.shape
    rel_rows = np.repeat(np.arange(n_q, dtype=np.int64), np.diff(relevant.indptr))
    rel_keys = rel_rows * n_items + relevant.indices
    top_keys = np.arange(n_q, dtype=np.int64)[:, None] * n_items + top
    hits = np.isin(top_keys, rel_keys)
    cum = np.cumsum(hits, axis=1)
    discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    dcg = np.cumsum(hits * discount, axis=1)
    ideal = np.cumsum(discount)
    n_rel = np.diff(relevant.indptr).astype(np.int64)
    valid = n_rel > 0
    out: dict[str, dict[int, np.ndarray]] = {m: {} for m in MEASURES}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in k_values:
            col = min(k, top.shape[1]) - 1
            h = cum[:, col].astype(np.float64)
            out["recall"][k] = np.where(valid, h / n_rel, np.nan)
            out["precision"][k] = np.where(valid, h / k, np.nan)
            out["hit_rate"][k] = np.where(valid, (h > 0).astype(np.float64), np.nan)
            best = ideal[np.minimum(n_rel, col + 1) - 1]
            out["ndcg"][k] = np.where(valid, dcg[:, col] / best, np.nan)
    return out


def bootstrap_intervals(
    per_query: np.ndarray, samples: int, seed: int, level: float = 0.95, chunk: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of the mean of each row of ``per_query`` (rows x queries, no NaN).

    Poisson bootstrap (each query drawn Poisson(1) times per resample), seeded, and the same
    resamples for every row: rows (methods at one k) are compared on the same draws of queries.
    """
    rows, n = per_query.shape
    if samples <= 0 or n == 0:
        nan = np.full(rows, np.nan)
        return nan, nan
    rng = np.random.default_rng([seed, 13])
    means = np.empty((samples, rows))
    for b in range(0, samples, chunk):
        w = rng.poisson(1.0, size=(min(chunk, samples - b), n)).astype(np.float64)
        means[b : b + len(w)] = (w @ per_query.T) / np.maximum(w.sum(axis=1, keepdims=True), 1.0)
    alpha = (1.0 - level) / 2
    return np.quantile(means, alpha, axis=0), np.quantile(means, 1 - alpha, axis=0)


def summarize(per_method: dict[str, dict[str, dict[int, np.ndarray]]], experiment: str, bootstrap_samples: int, seed: int) -> list[dict]:
    """Mean of every measure at every k for each method, with bootstrap intervals on recall and precision."""
    methods = list(per_method)
    any_method = per_method[methods[0]]
    rows = []
    for k in any_method["recall"]:
        valid = ~np.isnan(any_method["recall"][k])
        intervals = {}
        for measure in ("recall", "precision"):
            matrix = np.stack([per_method[m][measure][k][valid] for m in methods])
            intervals[measure] = bootstrap_intervals(matrix, bootstrap_samples, seed)
        for i, method in enumerate(methods):
            row = {"experiment": experiment, "method": method, "k": k}
            for measure in MEASURES:
                row[measure] = float(np.mean(per_method[method][measure][k][valid])) if valid.any() else float("nan")
                if measure in intervals:
                    row[f"{measure}_lo"] = float(intervals[measure][0][i])
                    row[f"{measure}_hi"] = float(intervals[measure][1][i])
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
    """For each ordering, at how many k its intervals separate in the claimed or the opposite direction."""
    rows = []
    for experiment, better, worse, k_min in orderings:
        data = metrics.filter((pl.col("experiment") == experiment) & (pl.col("k") >= k_min))
        a = data.filter(pl.col("method") == better).sort("k")
        b = data.filter(pl.col("method") == worse).sort("k")
        if a.is_empty() or b.is_empty():
            continue
        holds = int((a[f"{measure}_lo"] > b[f"{measure}_hi"]).sum())
        reversed_ = int((b[f"{measure}_lo"] > a[f"{measure}_hi"]).sum())
        n = a.height
        verdict = "holds" if holds == n else "reversed" if reversed_ == n else "not separable" if holds == reversed_ == 0 else "mixed"
        rows.append({
            "experiment": experiment, "ordering": f"{better} > {worse}", "k": f">= {max(k_min, int(a['k'].min()))}",
            "k_separated_as_claimed": holds, "k_separated_reversed": reversed_, "k_total": n, "verdict": verdict,
        })
    return pl.DataFrame(rows)


def reference_sessions(train_sessions: pl.DataFrame, queries: pl.DataFrame) -> pl.Series:
    """For each query session, the user's latest train session on the same device (null if none).

    ``train_sessions``: session_id, user_id, device, start.
    """
    latest = (
        train_sessions.sort("start")
        .group_by("user_id", "device", maintain_order=True)
        .agg(pl.col("session_id").last().alias("reference_session"))
    )
    return queries.join(latest, on=["user_id", "device"], how="left", maintain_order="left")["reference_session"]


@dataclass
class Space:
    """A space where songs and listeners live, rows aligned with the song catalogue and user list."""

    name: str
    metric: str
    songs: np.ndarray  # n_songs x d, in catalogue order
    users: dict[str, np.ndarray] | None = None  # user_id -> vector
    sessions: dict[str, np.ndarray] | None = None  # str(session_id) -> vector (user-session-song space)


def run_experiments(
    queries: TestQueries,
    spaces: list[Space],
    play_counts: np.ndarray,
    train_sessions: pl.DataFrame | None = None,
    device_space: str | None = None,
    sknn=None,
    k_values=defaults.K_VALUES,
    seed: int = defaults.SEED,
    bootstrap_samples: int = 1000,
    progress=None,
) -> tuple[pl.DataFrame, dict]:
    """Both experiments for every space, plus SKNN (when given), popularity and random.

    ``device_space`` names the space whose session vectors give ``<name>-device`` in Experiment 2;
    the same reference sessions give ``SKNN-device``. Returns the metrics (every measure at every
    k, bootstrap intervals on recall and precision) and notes, which include each retrieval's wall
    time as ``<experiment>.<method>.seconds`` (the ranking only, not the scoring); ``progress``,
    when given, is called with a line per retrieval.
    """
    k_max = max(k_values)
    n_songs = len(play_counts)
    query_song = queries.sessions["query_song"].to_numpy()
    users = queries.sessions["user_id"].to_list()
    per_query: dict[str, dict[str, dict]] = {"exp1": {}, "exp2": {}}
    notes: dict = {"test_sessions": queries.n_sessions_total, "sampled_sessions": queries.n}
    ref = reference_sessions(train_sessions, queries.sessions).to_list() if train_sessions is not None else None
    if ref is not None:
        notes["device_reference_fallbacks"] = sum(r is None for r in ref)

    def score(experiment: str, method: str, rank, *args, **kwargs) -> None:
        start = time.perf_counter()
        top = rank(*args, **kwargs)
        seconds = time.perf_counter() - start
        notes[f"{experiment}.{method}.seconds"] = round(seconds, 2)
        if progress is not None:
            progress(f"{experiment} {method}: top {k_max} of {n_songs:,} songs for {queries.n:,} queries in {seconds:.1f} s")
        relevant = queries.exp1_relevant if experiment == "exp1" else queries.exp2_relevant
        per_query[experiment][method] = ranking_metrics(top, relevant, k_values)

    for space in spaces:
        score("exp1", space.name, nearest, space.songs[query_song], space.songs, k_max, space.metric, exclude=query_song)
        if space.users is not None:
            user_vectors = np.stack([space.users[u] for u in users])
            name = f"{space.name}-user" if space.name == device_space else space.name
            score("exp2", name, nearest, user_vectors, space.songs, k_max, space.metric)
        if space.name == device_space and space.sessions is not None and ref is not None:
            vectors = np.stack([space.sessions[str(r)] if r is not None else space.users[u] for r, u in zip(ref, users)])
            score("exp2", f"{space.name}-device", nearest, vectors, space.songs, k_max, space.metric)

    if sknn is not None:
        one_song = sp.csr_matrix((np.ones(queries.n, np.float32), (np.arange(queries.n), query_song)), shape=(queries.n, n_songs))
        score("exp1", "SKNN", sknn.rank, one_song, k_max, exclude=query_song)
        score("exp2", "SKNN-user", sknn.rank, sknn.query_sets(users), k_max)
        if ref is not None:
            score("exp2", "SKNN-device", sknn.rank, sknn.query_sets(users, ref), k_max)

    score("exp1", "popularity", ranked_by_score, play_counts, queries.n, k_max, exclude=query_song)
    score("exp2", "popularity", ranked_by_score, play_counts, queries.n, k_max)
    score("exp1", "random", random_ranking, n_songs, queries.n, k_max, seed, exclude=query_song)
    score("exp2", "random", random_ranking, n_songs, queries.n, k_max, seed)
    notes["exp1_queries_without_relevant_songs"] = int((np.diff(queries.exp1_relevant.indptr) == 0).sum())
    notes["bootstrap_samples"] = bootstrap_samples
    rows = [r for exp, methods in per_query.items() for r in summarize(methods, exp, bootstrap_samples, seed)]
    return pl.DataFrame(rows), notes
