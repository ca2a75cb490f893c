"""Tuning on a validation split, never on test (issue: no straw men).

Each grid point is trained on the fit part and scored on the validation part by the mean of
Experiment 1 and Experiment 2 recall@k; the best point is then retrained on the whole train set
by the caller.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import polars as pl

from pipeline import defaults
from pipeline.baselines import ALSParams, catalogue, fit_als, play_counts, user_song_matrix
from pipeline.embed import SkipGramParams, train_skipgram
from pipeline.evaluate import run_experiments
from pipeline.graph import user_session_song_graph
from pipeline.methods import Popularity, Space
from pipeline.nearest import DOT, EUCLIDEAN
from pipeline.queries import build_queries
from pipeline.walks import write_corpus


def _validation_score(queries, space, k: int, seed: int) -> dict:
    """Mean of Exp. 1 and Exp. 2 recall@k of one method (a Space, or any pipeline.methods retriever) on ``queries``."""
    table = run_experiments(queries, [space], k_values=(k,), seed=seed, bootstrap_samples=0).table
    mine = table.filter(pl.col("method") == space.name)
    r1 = mine.filter(pl.col("experiment") == "exp1")["recall"].item()
    r2 = mine.filter(pl.col("experiment") == "exp2")["recall"].item()
    return {f"exp1_recall@{k}": r1, f"exp2_recall@{k}": r2, "score": (r1 + r2) / 2}


def at_grid_edge(grid: pl.DataFrame, axes: dict[str, list]) -> list[str]:
    """The axes whose best value (first row) is the smallest or largest tried: widen the grid there."""
    best = grid.row(0, named=True)
    return [name for name, values in axes.items() if len(set(values)) > 1 and best[name] in (min(values), max(values))]


def _grid(base, **axes) -> list:
    names = list(axes)
    return [replace(base, **dict(zip(names, values))) for values in itertools.product(*(axes[n] for n in names))]


@dataclass(frozen=True)
class ALSGrid:
    """The ALS grid searched on validation (the ``als_tuning`` asset's config is made from these fields)."""

    factors: int = defaults.ALS_FACTORS
    regularization: tuple[float, ...] = defaults.ALS_REGULARIZATION_GRID
    confidence_scale: tuple[float, ...] = defaults.ALS_CONFIDENCE_SCALE_GRID
    iterations: tuple[int, ...] = (defaults.ALS_ITERATIONS,)
    tuning_k: int = defaults.TUNING_K

    def axes(self) -> dict[str, tuple]:
        return {"regularization": self.regularization, "confidence_scale": self.confidence_scale, "iterations": self.iterations}


def tune_als(
    fit: pl.DataFrame,
    val: pl.DataFrame,
    grid: ALSGrid,
    seed: int = defaults.SEED,
    max_queries: int = 20_000,
    progress: Callable[[str], None] | None = None,
) -> tuple[ALSParams, pl.DataFrame]:
    """Grid search of ALS on the validation split; returns the best params and every point's score."""
    base, k = ALSParams(factors=grid.factors, seed=seed), grid.tuning_k
    users, songs = catalogue(fit)
    plays = user_song_matrix(fit, users, songs)
    queries = build_queries(val, songs, max_queries, base.seed)
    rows = []
    for params in _grid(base, **grid.axes()):
        t = time.perf_counter()
        user_factors, item_factors = fit_als(plays, params)
        space = Space.from_factors("MF", DOT, user_factors, item_factors, users)
        rows.append({**params.as_record(), **_validation_score(queries, space, k, base.seed), "seconds": time.perf_counter() - t})
        if progress:
            progress(f"ALS grid {len(rows)}: reg={params.regularization} c={params.confidence_scale} it={params.iterations} -> {rows[-1]['score']:.4f}")
    table = pl.DataFrame(rows).sort("score", descending=True, maintain_order=True)
    best = table.row(0, named=True)
    return replace(base, regularization=best["regularization"], confidence_scale=best["confidence_scale"], iterations=best["iterations"]), table


def popularity_validation(fit: pl.DataFrame, val: pl.DataFrame, k: int = defaults.TUNING_K, seed: int = defaults.SEED,
                          max_queries: int = 20_000) -> dict:
    """Popularity (fit play counts) scored on the validation split as the grids are: the bar a model must clear."""
    users, songs = catalogue(fit)
    queries = build_queries(val, songs, max_queries, seed)
    return _validation_score(queries, Popularity(play_counts(fit, songs)), k, seed)


def tune_skipgram(
    fit: pl.DataFrame,
    val: pl.DataFrame,
    base: SkipGramParams,
    epochs: list[int],
    alpha: list[float],
    corpus: Path,
    walk_length: int = defaults.WALK_LENGTH,
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX,
    k: int = 20,
    max_queries: int = 20_000,
    progress: Callable[[str], None] | None = None,
) -> tuple[SkipGramParams, pl.DataFrame]:
    """Grid search of the skip-gram's epochs and learning rate for the user-session-song space.

    Walks the fit part's network once into ``corpus`` (removed afterwards), trains at each grid
    point, scores on validation.
    """
    graph = user_session_song_graph(fit)
    stats = write_corpus(graph, corpus, walk_length, walks_per_vertex, base.seed)
    _, songs = catalogue(fit)
    queries = build_queries(val, songs, max_queries, base.seed)
    rows = []
    try:
        for params in _grid(base, epochs=epochs, alpha=alpha):
            t = time.perf_counter()
            _, vectors, _ = train_skipgram(corpus, stats.vertex_counts, params)
            space = Space.from_graph("proposed", EUCLIDEAN, vectors, graph, songs)
            rows.append({"epochs": params.epochs, "alpha": params.alpha, **_validation_score(queries, space, k, base.seed),
                         "seconds": time.perf_counter() - t})
            if progress:
                progress(f"skip-gram grid {len(rows)}: epochs={params.epochs} alpha={params.alpha} -> {rows[-1]['score']:.4f}")
    finally:
        corpus.unlink(missing_ok=True)
    table = pl.DataFrame(rows).sort("score", descending=True, maintain_order=True)
    best = table.row(0, named=True)
    return replace(base, epochs=best["epochs"], alpha=best["alpha"]), table
