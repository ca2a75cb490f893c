"""Exact nearest songs: batched matrix products folded into a running top k (the evaluation's engine).

DeepWalk spaces rank by Euclidean distance, MF by inner product. Each of ``workers`` threads takes
every ``workers``-th batch of queries and scores it against a tile of songs at a time with
single-threaded BLAS, then folds the scores into each query's running top k with a compiled
selection while they are still in its core's cache.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from threadpoolctl import threadpool_limits

EUCLIDEAN, DOT = "euclidean", "dot"
QUERY_BATCH, ITEM_TILE = 512, 2_048  # nearest()'s scores at a time: 512 x 2,048 floats, 4 MB (one core's L2 here)
BLOCK = 64  # columns checked at once against a row's current k-th best (see _top_k_update)


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

    ``exclude[i]`` (an item index, or -1 for none) is never returned for query i. Equal queries
    (with equal exclusions) are searched once.
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

