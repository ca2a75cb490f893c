"""Ids to consecutive codes, and binary CSR matrices from (row, column) pairs, in numpy alone.

At paper scale (34M train events) string joins and scipy's COO-to-CSR conversion each hold several
copies of the pairs; these pack a pair into one int64 and sort it in place.
"""

from __future__ import annotations

import numba
import numpy as np
import polars as pl
import scipy.sparse as sp


def codes(values: pl.Series, keys: pl.Series) -> np.ndarray:
    """Position of each value in ``keys`` (distinct strings); a value not in ``keys`` is an error."""
    if keys.len() == 0:
        if values.len():
            raise ValueError(f"{values.len()} values of {values.name!r} and no keys to code them by")
        return np.zeros(0, dtype=np.int64)
    return values.cast(pl.String).cast(pl.Enum(keys.cast(pl.String))).to_physical().to_numpy().astype(np.int64)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending: ``np.unique(values)`` by a sort and one comparison of neighbours.

    numpy 2.4's ``np.unique`` finds integers' distinct values by hashing, then sorts them: on the 34M
    (session, song) keys of the paper-scale train set it took 29 s, a sort and a comparison 0.7 s."""
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def sorted_pairs(rows: np.ndarray, cols: np.ndarray, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (row, col) pairs, sorted by row then column."""
    keys = sorted_unique(rows.astype(np.int64) * n_cols + cols)
    r, c = np.divmod(keys, n_cols)
    return r, c


def binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype=np.float32) -> sp.csr_matrix:
    """A CSR matrix with 1 at each distinct (row, col), column indices sorted within rows."""
    r, c = sorted_pairs(rows, cols, shape[1])
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((np.ones(len(c), dtype=dtype), c.astype(np.int32), indptr), shape=shape)


def in_rows(top: np.ndarray, rows: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Whether each entry of ``top[q]`` is among the sorted ``indices`` of CSR row ``rows[q]`` (of none for -1):
    a binary search in the row, one query a thread."""
    out = np.empty(top.shape, dtype=np.bool_)
    _in_rows_kernel(np.ascontiguousarray(top), np.asarray(rows, dtype=np.int64), indptr, indices, out)
    return out


@numba.njit(parallel=True, cache=True)
def _in_rows_kernel(top, rows, indptr, indices, out):
    n, width = top.shape
    for q in numba.prange(n):
        r = rows[q]
        lo, hi = (indptr[r], indptr[r + 1]) if r >= 0 else (0, 0)
        for j in range(width):
            item, a, b = top[q, j], lo, hi
            while a < b:
                m = (a + b) >> 1
                if indices[m] < item:
                    a = m + 1
                else:
                    b = m
            out[q, j] = a < hi and indices[a] == item
