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

import numpy as np
import polars as pl

from pipeline.defaults import RARE_PLAYS

UNKNOWN = -1  # a song without the tag
TAGS = ("artist", "genre", "language")


def beyond_accuracy(top: np.ndarray, k: int, counts: np.ndarray, tags: dict[str, np.ndarray] | None = None,
                    heard: np.ndarray | None = None) -> dict[str, float]:
    """The measures of the module docstring for the first ``k`` columns of ``top`` (queries x ranks, song indices).

    ``counts``: each catalogue song's train play count (all at least 1); ``tags``: per tag, each song's code
    (0..V-1, or UNKNOWN); ``heard``: whether each entry of ``top`` was played by its query's user in train
    (``TrainHistory.heard``)."""
    lists = top[:, :k]
    plays = counts[lists]
    out = {
        "coverage": np.unique(lists).size / counts.size,
        "popularity": float(plays.mean()),
        "novelty": float((-np.log2(plays / counts.sum())).mean()),
        "rare": float((plays <= RARE_PLAYS).mean()),
    }
    if heard is not None:
        out["heard"] = float(heard[:, :k].mean())
    for name, codes in (tags or {}).items():
        out[f"diversity_{name}"] = intra_list_diversity(codes[lists])
    return out


class TrainHistory:
    """The (user, song) pairs of train, to tell which recommended songs a query's user has already played."""

    def __init__(self, pairs: np.ndarray, users: list[str], n_songs: int):
        self.keys = np.unique(pairs)  # user index (in ``users``) * n_songs + song index, sorted
        self.user_index = {u: i for i, u in enumerate(users)}
        self.n_songs = n_songs

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
        keys = np.where(query_users[:, None] >= 0, query_users[:, None] * self.n_songs + top, -1)
        if not self.keys.size:
            return np.zeros(top.shape, bool)
        at = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return self.keys[at] == keys


def intra_list_diversity(codes: np.ndarray) -> float:
    """Mean over rows of the share of pairs of known codes that differ (rows with no known pair left out)."""
    n_rows = codes.shape[0]
    known = codes != UNKNOWN
    n = known.sum(axis=1)
    n_values = int(codes.max()) + 1 if known.any() else 1
    # (row, value) pairs counted by sorting, not in a rows x values table: a tag such as the artist has tens of
    # thousands of values at the paper's scale
    flat = (np.arange(n_rows, dtype=np.int64)[:, None] * n_values + np.where(known, codes, 0))[known]
    pair, count = np.unique(flat, return_counts=True)
    same = np.bincount(pair // n_values, weights=count * (count - 1) / 2, minlength=n_rows)
    pairs = n * (n - 1) / 2
    has_pairs = pairs > 0
    if not has_pairs.any():
        return float("nan")
    return float((1 - same[has_pairs] / pairs[has_pairs]).mean())


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
