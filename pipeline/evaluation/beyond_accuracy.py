"""What a method recommends, beyond whether it is right: coverage, popularity bias, novelty and diversity at k.

For the top-k lists of one method in one experiment (one list a query):
- ``coverage``: the share of the catalogue that appears in any list;
- ``popularity``: the mean train play count of the recommended songs (average recommendation popularity;
  popularity's own lists set its ceiling);
- ``novelty``: the mean self-information of the recommended songs, -log2(plays / all plays), in bits:
  higher is less popular;
- ``rare``: the share of the recommended songs played at most ``RARE_PLAYS`` times in train;
- ``heard``: the share of the recommended songs the query's user played in train (given their train history);
- ``diversity_<tag>``: intra-list diversity in a song tag (genre, language): of the pairs of songs in a list
  whose tag is known, the share that differ; the mean over lists with at least one such pair (NaN when none).
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import polars as pl

from pipeline.defaults import RARE_PLAYS
from pipeline.sparse import in_rows, sorted_unique

UNKNOWN = -1  # a song without the tag
TAGS = ("artist", "genre", "language")


def beyond_accuracy(top: np.ndarray, k_values, counts: np.ndarray, tags: dict[str, np.ndarray] | None = None,
                    heard: np.ndarray | None = None) -> dict[int, dict[str, float]]:
    """The measures of the module docstring at each k of ``k_values``, for the first k columns of ``top`` (queries x
    ranks, song indices): every k from one pass over the lists.

    ``counts``: each catalogue song's train play count (all at least 1); ``tags``: per tag, each song's code
    (0..V-1, or UNKNOWN); ``heard``: whether each entry of ``top`` was played by its query's user in train
    (``TrainHistory.heard``)."""
    k_values = list(k_values)
    width = max(k_values)
    lists = top[:, :width]
    n = lists.shape[0]
    plays = counts[lists]
    # per rank: the sums over the lists, summed up to each k
    totals = {
        "popularity": np.cumsum(plays.sum(axis=0, dtype=np.float64)),
        "novelty": np.cumsum((-np.log2(plays / counts.sum())).sum(axis=0)),
        "rare": np.cumsum((plays <= RARE_PLAYS).sum(axis=0)),
    }
    if heard is not None:
        totals["heard"] = np.cumsum(heard[:, :width].sum(axis=0))
    seen, distinct = np.zeros(counts.size, dtype=bool), np.empty(width, dtype=np.int64)
    for j in range(width):  # songs in any list after each rank
        seen[lists[:, j]] = True
        distinct[j] = np.count_nonzero(seen)
    diversity = {name: intra_list_diversity(codes[lists], k_values) for name, codes in (tags or {}).items()}
    out = {}
    for i, k in enumerate(k_values):
        out[k] = {"coverage": distinct[k - 1] / counts.size,
                  **{name: float(total[k - 1] / (n * k)) for name, total in totals.items()},
                  **{f"diversity_{name}": float(values[i]) for name, values in diversity.items()}}
    return out


class TrainHistory:
    """The songs each user played in train, to tell which recommended songs a query's user has already played."""

    def __init__(self, pairs: np.ndarray, users: list[str], n_songs: int):
        keys = sorted_unique(pairs)  # user index (in ``users``) * n_songs + song index, sorted
        self.songs = keys % n_songs  # each user's songs, ascending, user after user
        self.indptr = np.searchsorted(keys // n_songs, np.arange(len(users) + 1))
        self.user_index = {u: i for i, u in enumerate(users)}

    def rows(self, users: list[str]) -> np.ndarray:
        """Each query user's index (-1 for a user without train plays)."""
        return np.array([self.user_index.get(u, -1) for u in users], dtype=np.int64)

    @classmethod
    def from_train(cls, train: pl.DataFrame, users: list[str], songs: list[str]) -> TrainHistory:
        """From train events (user_id, song_id), numbering users and songs by ``users`` and ``songs`` (the catalogue)."""
        index = train.lazy().select(
            pl.col("user_id").replace_strict(users, range(len(users)), return_dtype=pl.Int64),
            pl.col("song_id").replace_strict(songs, range(len(songs)), return_dtype=pl.Int64),
        ).collect()
        return cls(index["user_id"].to_numpy() * len(songs) + index["song_id"].to_numpy(), users, len(songs))

    def heard(self, top: np.ndarray, query_users: np.ndarray) -> np.ndarray:
        """For ``top`` (queries x ranks, song indices) and each query's user index (``rows``), which entries they played."""
        return in_rows(top, query_users, self.indptr, self.songs)


def intra_list_diversity(codes: np.ndarray, k_values=None) -> np.ndarray | float:
    """Mean over rows of the share of pairs of known codes that differ (rows with no known pair left out): of the
    whole rows, or (given ``k_values``) of each row's first k codes, an array in the order of ``k_values``."""
    widths = np.minimum([codes.shape[1]] if k_values is None else list(k_values), codes.shape[1]).astype(np.int64)
    order = np.argsort(widths, kind="stable")
    known = np.empty((codes.shape[0], len(widths)), dtype=np.int64)
    same = np.empty_like(known)
    _pairs_up_to(np.ascontiguousarray(codes), UNKNOWN, widths[order], known, same)
    out = np.empty(len(widths))
    for j, i in enumerate(order):
        pairs = known[:, j] * (known[:, j] - 1) / 2
        has_pairs = pairs > 0
        out[i] = (1 - same[has_pairs, j] / pairs[has_pairs]).mean() if has_pairs.any() else np.nan
    return float(out[0]) if k_values is None else out


@numba.njit(parallel=True, cache=True)
def _pairs_up_to(codes, unknown, widths, known, same):
    """For each row and each width w (ascending): known[r, j], its known codes among the first w, and same[r, j], the
    pairs of them that are alike, counted by comparing each known code with those before it (any range of codes)."""
    n, width = codes.shape
    for r in numba.prange(n):
        n_known, n_same, j = 0, 0, 0
        for col in range(width + 1):
            while j < len(widths) and widths[j] == col:
                known[r, j] = n_known
                same[r, j] = n_same
                j += 1
            if col == width:
                break
            c = codes[r, col]
            if c != unknown:
                n_known += 1
                for i in range(col):
                    n_same += codes[r, i] == c


def tag_codes(train: Path | str, songs: list[str], tags=TAGS) -> dict[str, np.ndarray]:
    """Each catalogue song's code in each tag the log has (its first value in train), UNKNOWN where it has none."""
    frame = pl.scan_parquet(train).select("song_id", *tags).filter(pl.col("song_id").is_in(songs))
    first = frame.group_by("song_id").agg(pl.col(t).drop_nulls().first() for t in tags).collect()
    order = pl.DataFrame({"song_id": songs}).join(first, on="song_id", how="left", maintain_order="left")
    codes = {}
    for tag in tags:
        values = order[tag]
        if values.is_null().all():
            continue
        known = values.drop_nulls().unique().sort()
        index = dict(zip(known.to_list(), range(len(known))))
        codes[tag] = values.replace_strict(index, default=UNKNOWN, return_dtype=pl.Int64).to_numpy()
    return codes
