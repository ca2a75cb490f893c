"""Baselines of the paper's evaluation (Section 4.2): popularity and ALS matrix factorisation.

(Random needs no model; DeepWalk on the user-song network reuses the DeepWalk stages.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from pipeline import defaults
from pipeline.contract import StageFiles
from pipeline.io import read_json, save_npy, write_json


def play_counts(train: pl.DataFrame, songs: list[str]) -> np.ndarray:
    """Train play count of each song, in the order of ``songs``."""
    counts = train.group_by("song_id").len()
    lookup = pl.DataFrame({"song_id": songs}).join(counts, on="song_id", how="left", maintain_order="left")
    return lookup["len"].fill_null(0).to_numpy().astype(np.int64)


def confidence(play_count: np.ndarray | sp.csr_matrix, scale: float = 1.0):
    """Implicit-feedback confidence 1 + scale * log(1 + play count) (log damps heavy repeat listening)."""
    if sp.issparse(play_count):
        out = play_count.astype(np.float32).copy()
        out.data = 1.0 + scale * np.log1p(out.data)
        return out
    return 1.0 + scale * np.log1p(np.asarray(play_count, dtype=np.float64))


def user_song_matrix(train: pl.DataFrame, users: list[str], songs: list[str]) -> sp.csr_matrix:
    """users x songs play counts."""
    u = pl.DataFrame({"user_id": users, "u": np.arange(len(users))})
    s = pl.DataFrame({"song_id": songs, "s": np.arange(len(songs))})
    pairs = train.group_by("user_id", "song_id").len().join(u, on="user_id").join(s, on="song_id")
    return sp.csr_matrix(
        (pairs["len"].to_numpy().astype(np.float32), (pairs["u"].to_numpy(), pairs["s"].to_numpy())),
        shape=(len(users), len(songs)),
    )


@dataclass(frozen=True)
class ALSParams:
    factors: int = defaults.ALS_FACTORS
    regularization: float = defaults.ALS_REGULARIZATION
    iterations: int = defaults.ALS_ITERATIONS
    confidence_scale: float = 1.0  # c in 1 + c * log(1 + plays)
    seed: int = defaults.SEED

    def as_record(self) -> dict:
        return asdict(self)


def fit_als(plays: sp.csr_matrix, params: ALSParams, start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ALS (Hu, Koren & Volinsky 2008) with implicit on confidence 1 + c * log(1 + plays).

    Returns (user_factors, item_factors) as float32 arrays. With ``start`` (factors an earlier fit
    returned), runs ``params.iterations`` more iterations from them instead of a seeded random
    start: 3 iterations and then 12 from their result give the factors of 15 at once.
    """
    from implicit.cpu.als import AlternatingLeastSquares

    # implicit runs its own threads; a BLAS thread pool on top of them only slows it down.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            iterations=params.iterations,
            alpha=1.0,  # the matrix already holds the confidences
            random_state=params.seed,
            num_threads=os.cpu_count() or 1,
        )
        if start is not None:  # implicit starts from factors it finds set
            model.user_factors, model.item_factors = (np.array(f, dtype=np.float32) for f in start)
        model.fit(confidence(plays, params.confidence_scale), show_progress=False)
    return np.asarray(model.user_factors, dtype=np.float32), np.asarray(model.item_factors, dtype=np.float32)


def catalogue(train: pl.DataFrame) -> tuple[list[str], list[str]]:
    """The train users and songs in the order every space uses (sorted ids, as the graphs number them)."""
    users = train["user_id"].cast(pl.String).unique().sort().to_list()
    songs = train["song_id"].cast(pl.String).unique().sort().to_list()
    return users, songs


def baselines(upstream: Mapping[str, StageFiles], out: StageFiles, log=None, *, seed: int = defaults.SEED) -> dict:
    """The ``baselines`` stage: popularity (each song's train play count) and ALS with the point ``als_tuning`` chose,
    refit on all of train; returns the counts and the ALS settings."""
    train = pl.read_parquet(upstream["splits"]["train"], columns=["user_id", "song_id"])
    users, songs = catalogue(train)
    plays = user_song_matrix(train, users, songs)
    params = ALSParams(**{**read_json(upstream["als_tuning"]["best"]), "seed": seed})
    user_factors, item_factors = fit_als(plays, params)
    save_npy(out["popularity"], play_counts(train, songs))
    save_npy(out["user_factors"], user_factors)
    save_npy(out["item_factors"], item_factors)
    write_json(out["params"], params.as_record())
    return {"users": len(users), "songs": len(songs), "user-song pairs": plays.nnz, **params.as_record()}
