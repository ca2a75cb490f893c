"""What a method recommends, beyond whether it is right: coverage, popularity bias, novelty and diversity at k.

For the top-k lists of one method in one experiment (one list a query):
- ``coverage``: the share of the catalogue that appears in any list;
- ``popularity``: the mean train play count of the recommended songs (average recommendation popularity;
  popularity's own lists set its ceiling);
- ``novelty``: the mean self-information of the recommended songs, -log2(plays / all plays), in bits:
  higher is less popular;
- ``diversity_<tag>``: intra-list diversity in a song tag (genre, language): of the pairs of songs in a list
  whose tag is known, the share that differ; the mean over lists with at least one such pair (NaN when none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

UNKNOWN = -1  # a song without the tag
TAGS = ("artist", "genre", "language")


def beyond_accuracy(top: np.ndarray, k: int, counts: np.ndarray, tags: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """The measures of the module docstring for the first ``k`` columns of ``top`` (queries x ranks, song indices).

    ``counts``: each catalogue song's train play count (all at least 1); ``tags``: per tag, each song's code
    (0..V-1, or UNKNOWN)."""
    lists = top[:, :k]
    total = counts.sum()
    out = {
        "coverage": np.unique(lists).size / counts.size,
        "popularity": float(counts[lists].mean()),
        "novelty": float((-np.log2(counts[lists] / total)).mean()),
    }
    for name, codes in (tags or {}).items():
        out[f"diversity_{name}"] = intra_list_diversity(codes[lists])
    return out


def intra_list_diversity(codes: np.ndarray) -> float:
    """Mean over rows of the share of pairs of known codes that differ (rows with no known pair left out)."""
    n_rows = codes.shape[0]
    known = codes != UNKNOWN
    n = known.sum(axis=1)
    n_values = int(codes.max()) + 1 if known.any() else 1
    flat = (np.arange(n_rows)[:, None] * n_values + np.where(known, codes, 0))[known]
    per_value = np.bincount(flat, minlength=n_rows * n_values).reshape(n_rows, n_values)
    same = (per_value * (per_value - 1) / 2).sum(axis=1)
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
