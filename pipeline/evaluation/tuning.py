"""Tuning on a validation split, never on test (issue: no straw men).

Each grid point is trained on the fit part and scored on the validation part by the mean of
Experiment 1 and Experiment 2 recall@k; the best point is then retrained on the whole train set
by the caller.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import polars as pl

from pipeline import defaults
from pipeline.contract import EVENT_IDS, StageFiles
from pipeline.embedding.record import TUNED_SETTINGS
from pipeline.embedding.skipgram import SkipGramParams, train_skipgram
from pipeline.embedding.trainers import RESUMABLE, train_units
from pipeline.evaluation.baselines import ALSParams, catalogue, fit_als, play_counts, user_song_matrix
from pipeline.evaluation.experiments import run_experiments
from pipeline.evaluation.methods import Popularity, Space
from pipeline.evaluation.nearest import DOT, EUCLIDEAN
from pipeline.evaluation.queries import build_queries
from pipeline.io import file_digest, read_json, write_json
from pipeline.network.graph import user_session_song_graph
from pipeline.network.walks import ShardedCorpus, write_corpus


def _validation_score(queries, space, k: int, seed: int) -> dict:
    """Mean of Exp. 1 and Exp. 2 recall@k of one method (a Space, or any pipeline.evaluation.methods retriever) on ``queries``."""
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
    """The ALS grid searched on validation (the ``als_tuning`` asset's config is made from these fields).

    ``search="screen"`` (the default) fits every point for ``screen_iterations`` only, scores them on a seeded
    sample of ``screen_queries`` of the validation queries, and carries the ``finalists`` best on (warm, so their
    factors are those of a fit from scratch) to their full ``iterations``, scored on every validation query; the
    best finalist wins. ``search="full"`` fits every point to the end.
    """

    factors: int = defaults.ALS_FACTORS
    regularization: tuple[float, ...] = defaults.ALS_REGULARIZATION_GRID
    confidence_scale: tuple[float, ...] = defaults.ALS_CONFIDENCE_SCALE_GRID
    iterations: tuple[int, ...] = (defaults.ALS_ITERATIONS,)
    tuning_k: int = defaults.TUNING_K
    search: str = defaults.ALS_SEARCH
    screen_iterations: int = defaults.ALS_SCREEN_ITERATIONS
    finalists: int = defaults.ALS_FINALISTS
    screen_queries: int = defaults.ALS_SCREEN_QUERIES

    def __post_init__(self) -> None:
        if self.search not in ("screen", "full"):
            raise ValueError(f"ALS search must be 'screen' or 'full', not {self.search!r}")
        if self.screen_iterations < 1 or self.finalists < 1 or self.screen_queries < 1:
            raise ValueError("ALS screen_iterations, finalists and screen_queries must be at least 1")

    def axes(self) -> dict[str, tuple]:
        return {"regularization": self.regularization, "confidence_scale": self.confidence_scale, "iterations": self.iterations}


def tune_als(
    fit: pl.DataFrame,
    val: pl.DataFrame,
    grid: ALSGrid,
    seed: int = defaults.SEED,
    max_queries: int = defaults.VALIDATION_QUERIES,
    progress: Callable[[str], None] | None = None,
) -> tuple[ALSParams, pl.DataFrame]:
    """Search ALS on the validation split; returns the best params and every point's scores.

    The table has a row per point: ``screen_score`` after ``screen_iterations`` (null in a full
    search; scored on the screening's sample), ``score`` after all its iterations (null for a point screened
    out), ``seconds`` of fitting and scoring it; best first.
    """
    base, k = ALSParams(factors=grid.factors, seed=seed), grid.tuning_k
    users, songs = catalogue(fit)
    plays = user_song_matrix(fit, users, songs)
    queries = build_queries(val, songs, max_queries, base.seed)
    screen_queries = queries.sample(grid.screen_queries, base.seed, defaults.STREAM_SCREEN_QUERIES)
    points = _grid(base, **grid.axes())
    screening = grid.search == "screen"

    def score(factors, on=queries) -> float:
        return _validation_score(on, Space.from_factors("MF", DOT, *factors, users), k, base.seed)["score"]

    rows, kept = [], {}  # kept: the factors of the best `finalists` screened so far
    for i, params in enumerate(points):
        t = time.perf_counter()
        row = {**params.as_record(), "screen_score": None, "score": None}
        if screening and params.iterations > grid.screen_iterations:
            kept[i] = fit_als(plays, replace(params, iterations=grid.screen_iterations))
            row["screen_score"] = score(kept[i], screen_queries)
        else:
            row["score"] = score(fit_als(plays, params))
        rows.append({**row, "seconds": time.perf_counter() - t})
        if len(kept) > grid.finalists:  # drop the worst screened (of equals, the later)
            del kept[min(kept, key=lambda j: (rows[j]["screen_score"], -j))]
        if progress:
            done = f"screened ({grid.screen_iterations} it.) {row['screen_score']:.4f}" if row["score"] is None else f"{row['score']:.4f}"
            eta = sum(r["seconds"] for r in rows) / len(rows) * (len(points) - i - 1)
            progress(f"ALS point {i + 1}/{len(points)}: reg={params.regularization} c={params.confidence_scale} it={params.iterations} -> {done}, "
                     f"ETA {eta:.0f}s")
    for i, factors in sorted(kept.items()):  # the finalists, warm from their screening fits
        t, params = time.perf_counter(), points[i]
        rows[i]["score"] = score(fit_als(plays, replace(params, iterations=params.iterations - grid.screen_iterations), start=factors))
        rows[i]["seconds"] += time.perf_counter() - t
        if progress:
            progress(f"ALS finalist reg={params.regularization} c={params.confidence_scale} it={params.iterations} -> {rows[i]['score']:.4f}")
    table = pl.DataFrame(rows, schema_overrides={"screen_score": pl.Float64, "score": pl.Float64})
    table = table.sort(["score", "screen_score"], descending=True, nulls_last=True, maintain_order=True)
    best = table.row(0, named=True)
    return replace(base, regularization=best["regularization"], confidence_scale=best["confidence_scale"], iterations=best["iterations"]), table


def search_summary(grid: ALSGrid, table: pl.DataFrame) -> str:
    """One line saying how ``tune_als`` searched: how many points were screened and how many fitted to the end."""
    screened, finished = table["screen_score"].count(), table["score"].count()
    if not screened:
        return f"full: {finished} points fitted to the end"
    return f"screen: {screened} points after {grid.screen_iterations} iterations, {finished} fitted to the end"


def popularity_validation(fit: pl.DataFrame, val: pl.DataFrame, k: int = defaults.TUNING_K, seed: int = defaults.SEED,
                          max_queries: int = defaults.VALIDATION_QUERIES) -> dict:
    """Popularity (fit play counts) scored on the validation split as the grids are: the bar a model must clear."""
    users, songs = catalogue(fit)
    queries = build_queries(val, songs, max_queries, seed)
    return _validation_score(queries, Popularity(play_counts(fit, songs)), k, seed)


GRID_AXES = TUNED_SETTINGS  # the skip-gram grid's axes: the settings embedding_uss takes from it


def grid_ledger(folder: Path, data: dict[str, Path], config: dict, seed: int) -> Path:
    """Where a skip-gram grid records its scored points (``tune_skipgram``'s ``finished``): named by the data's
    digests, every setting but the grid's axes, and the seed; so a grid stopped midway resumes, and a widened grid
    on the same data scores only its new points."""
    fixed = {k: v for k, v in config.items() if k not in GRID_AXES}
    key = hashlib.sha256(json.dumps({"data": {k: file_digest(p) for k, p in sorted(data.items())}, "config": fixed,
                                     "seed": seed}, sort_keys=True).encode()).hexdigest()[:16]
    return Path(folder) / f"grid-{key}.json"


def skipgram_result(grid: pl.DataFrame, base: SkipGramParams) -> dict:
    """``skipgram_tuning``'s result.json: the best point (what ``embedding_uss`` trains), its score and the paper's."""
    best = grid.row(0, named=True)
    paper = grid.filter((pl.col("epochs") == base.epochs) & (pl.col("alpha") == base.alpha) & (pl.col("window") == base.window))
    return {"enabled": True, "best": {k: best[k] for k in GRID_AXES}, "best_score": best["score"],
            "paper_score": paper["score"].item() if paper.height else None, "dimensions": base.dimensions}


def _point_key(point: dict) -> tuple:
    return point["epochs"], float(point["alpha"]), point["window"]


def tune_skipgram(
    fit: pl.DataFrame,
    val: pl.DataFrame,
    base: SkipGramParams,
    epochs: list[int],
    alpha: list[float],
    corpus: Path,
    window: list[int] | None = None,
    walk_length: int = defaults.WALK_LENGTH,
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX,
    k: int = defaults.TUNING_K,
    max_queries: int = defaults.VALIDATION_QUERIES,
    progress: Callable[[str], None] | None = None,
    trainer: str = "gensim",
    finished: Path | None = None,
) -> tuple[SkipGramParams, pl.DataFrame]:
    """Grid search of the skip-gram's epochs, learning rate and window (``window`` None: ``base``'s only) for the
    user-session-song space, trained by ``trainer`` (``pipeline.embedding.trainers.RESUMABLE``): the best point and every
    point's row, best first.

    Walks the fit part's network once into ``corpus`` (removed afterwards), trains at each grid
    point, scores on validation. With ``finished`` (a JSON file), each scored point is recorded there as it ends and a
    rerun with the same file scores only the points it lacks, so a long grid resumes where it stopped; the caller
    names the file by everything that fixes a point's score (``grid_ledger``: data, settings, trainer). Points of the
    file outside this grid are kept in it, not reported.
    """
    graph = user_session_song_graph(fit)
    _, songs = catalogue(fit)
    queries = build_queries(val, songs, max_queries, base.seed)
    grid = _grid(base, epochs=epochs, alpha=alpha, window=window or [base.window])
    recorded = {_point_key(r): r for r in (read_json(finished) if finished is not None and finished.exists() else [])}
    others = [r for key, r in recorded.items() if key not in {_point_key(asdict(p)) for p in grid}]
    rows = [recorded[_point_key(asdict(p))] for p in grid if _point_key(asdict(p)) in recorded]
    if rows and progress:
        progress(f"skip-gram grid: {len(rows)} of {len(grid)} points scored by an earlier attempt ({finished.name}); scoring the rest")
    todo = [p for p in grid if _point_key(asdict(p)) not in recorded]
    stats = write_corpus(graph, corpus, walk_length, walks_per_vertex, base.seed) if todo else None
    try:
        for params in todo:
            t = time.perf_counter()
            if trainer == "gensim":
                _, vectors, _ = train_skipgram(corpus, stats.vertex_counts, params)
            else:
                one_file = ShardedCorpus([corpus], [stats.tokens], stats.vertex_counts)
                vectors = train_units(one_file, params, progress=progress, trainer=trainer).vectors
            space = Space.from_graph("proposed", EUCLIDEAN, vectors, graph, songs)
            point = {axis: getattr(params, axis) for axis in GRID_AXES}
            rows.append({**point, **_validation_score(queries, space, k, base.seed), "seconds": time.perf_counter() - t})
            if progress:
                said = " ".join(f"{name}={value}" for name, value in point.items())
                progress(f"skip-gram grid {len(rows)}/{len(grid)}: {said} -> {rows[-1]['score']:.4f} ({rows[-1]['seconds']:.0f} s)")
            if finished is not None:
                write_json(finished, [*others, *rows])
    finally:
        corpus.unlink(missing_ok=True)
    by_point = {_point_key(r): r for r in rows}  # in the grid's order, resumed or not (ties keep it)
    table = pl.DataFrame([by_point[_point_key(asdict(p))] for p in grid]).sort("score", descending=True, maintain_order=True)
    best = table.row(0, named=True)
    return replace(base, epochs=best["epochs"], alpha=best["alpha"], window=best["window"]), table


class BadSetting(ValueError):
    """A tuning stage's setting it cannot work with (named in the message)."""


def _validation(upstream: Mapping[str, StageFiles]) -> tuple[pl.DataFrame, pl.DataFrame]:
    files = upstream["validation_split"]
    return pl.read_parquet(files["fit"], columns=EVENT_IDS), pl.read_parquet(files["validation"], columns=EVENT_IDS)


def als_tuning(upstream: Mapping[str, StageFiles], out: StageFiles, log=None, *, seed: int = defaults.SEED, **grid) -> dict:
    """The ``als_tuning`` stage: ``tune_als`` over ``grid`` (``ALSGrid``'s fields) on the validation split; writes the
    grid's scores, the best point and the validation scores the champion gate compares (ALS's, popularity's, and a
    digest of the validation data). Returns the point chosen, the axes where it sits at the grid's edge, how the search
    went and its seconds."""
    als_grid = ALSGrid(**grid)
    fit, val = _validation(upstream)
    best, table = tune_als(fit, val, als_grid, seed=seed, progress=log)
    table.write_csv(out["grid"])
    write_json(out["best"], best.as_record())
    write_json(out["validation"], {"MF": table["score"][0], "popularity": popularity_validation(fit, val, als_grid.tuning_k, seed)["score"],
                                   "data": file_digest(upstream["validation_split"]["validation"]), "k": als_grid.tuning_k})
    return {"chosen": best.as_record(), "edge": at_grid_edge(table, als_grid.axes()), "search": search_summary(als_grid, table),
            "seconds": round(table["seconds"].sum(), 1)}


def skipgram_tuning(upstream: Mapping[str, StageFiles], out: StageFiles, log=None, *, seed: int = defaults.SEED, workers: int = 1,
                    checkpoints: str, **config) -> dict:
    """The ``skipgram_tuning`` stage (``config``: the asset's, ``enabled`` and the grid's axes among them): off, it writes
    ``{"enabled": false}``; on, ``tune_skipgram`` on the validation split, resuming from the points a stopped grid
    scored (kept under ``checkpoints``), and writes the grid and ``skipgram_result``. Returns the result, the axes where
    the best point sits at the grid's edge and the grid's seconds."""
    if not config["enabled"]:
        write_json(out["result"], {"enabled": False})
        return {"enabled": False}
    if config["trainer"] not in RESUMABLE:
        raise BadSetting(f"skipgram_tuning: trainer {config['trainer']!r} is not one of {', '.join(RESUMABLE)}")
    validation = upstream["validation_split"]
    base = SkipGramParams(dimensions=config["dimensions"], workers=workers, seed=seed)
    finished = grid_ledger(Path(checkpoints), {part: validation[part] for part in ("fit", "validation")}, config, seed)
    fit, val = _validation(upstream)
    _, table = tune_skipgram(fit, val, base, config["epochs"], config["alpha"], out["corpus"], config["window"], config["walk_length"],
                             config["walks_per_vertex"], k=config["tuning_k"], progress=log, trainer=config["trainer"], finished=finished)
    table.write_csv(out["grid"])
    result = skipgram_result(table, base)
    write_json(out["result"], result)  # (the scored points stay in `finished`: a widened grid scores only new ones)
    return {"result": result, "edge": at_grid_edge(table, {axis: config[axis] for axis in GRID_AXES}),
            "seconds": round(table["seconds"].sum(), 1)}
