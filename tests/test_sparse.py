"""The numpy helpers of pipeline.sparse, against numpy's own answers."""

import numpy as np

from pipeline.sparse import in_rows, sorted_pairs, sorted_unique


def test_sorted_unique_is_np_unique():
    rng = np.random.default_rng(0)
    for values in (rng.integers(-50, 50, 1_000), rng.integers(0, 2**40, 5_000), np.array([7]), np.array([], dtype=np.int64)):
        assert np.array_equal(sorted_unique(values), np.unique(values))
    assert sorted_unique(np.array([3, 1, 3, 3, 2, 1])).tolist() == [1, 2, 3]


def test_sorted_pairs_are_the_distinct_pairs_by_row_then_column():
    rows, cols = np.array([2, 0, 2, 0, 1]), np.array([1, 3, 1, 0, 2])
    r, c = sorted_pairs(rows, cols, 4)
    assert list(zip(r.tolist(), c.tolist())) == [(0, 0), (0, 3), (1, 2), (2, 1)]


def test_in_rows_finds_each_entry_in_its_own_row_and_none_in_row_minus_one():
    # rows: 0 -> {1, 4, 7}, 1 -> {}, 2 -> {0, 2}
    indptr, indices = np.array([0, 3, 3, 5]), np.array([1, 4, 7, 0, 2])
    top = np.array([[7, 2, 1], [1, 4, 7], [2, 1, 0], [1, 4, 7]])
    got = in_rows(top, np.array([0, 1, 2, -1]), indptr, indices)
    assert got.tolist() == [[True, False, True], [False, False, False], [True, False, True], [False, False, False]]
