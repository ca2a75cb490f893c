"""ALS tuning: the screened search (every point fitted for a few iterations, the best few fitted on) against
the full grid (every point fitted to the end), on the same fit and validation split of a log.

For each train file (a `splits` stage's train.parquet) it carves the validation split as the
`validation_split` asset does, then runs
  1. the full grid, timed;
  2. the default screened search (``ALSGrid()``) with each ``--screen-queries``, timed;
  3. for each ``--screen-iterations`` and each ``--screen-queries``, the screened search with every point a
     finalist: each point's score after the screening iterations (on that many validation queries) *and* at
     the end (a finalist is fitted on warm, to the factors of a fit from scratch, and scored on all of them),
     from which it reads what each number of finalists would choose.
It prints each point's scores, the full grid's best with its 95 % interval (users resampled, as the
metrics' verdicts are), whether each screened choice is that point or inside its interval, and the
wall times. Printed, not asserted.

    python -m benchmarks.als_tuning .data/spark-bench/4M/local/splits/runs/bench/train.parquet ...
"""

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

from pipeline import defaults
from pipeline.contract import STAGES, StageFiles
from pipeline.evaluation.baselines import ALSParams, catalogue, fit_als, user_song_matrix
from pipeline.evaluation.measures import bootstrap_means, ranking_metrics
from pipeline.evaluation.methods import Space
from pipeline.evaluation.metrics import EVENT_IDS
from pipeline.evaluation.nearest import DOT
from pipeline.evaluation.queries import build_queries
from pipeline.evaluation.tuning import ALSGrid, tune_als
from pipeline.sessions.splits import validation_split_files


def score_interval(fit: pl.DataFrame, val: pl.DataFrame, params: ALSParams, k: int, samples: int = 1000, seed: int = defaults.SEED):
    """The validation score (mean of Exp. 1 and Exp. 2 recall@k) of one point and its 95 % interval, users resampled."""
    users, songs = catalogue(fit)
    queries = build_queries(val, songs, defaults.VALIDATION_QUERIES, seed)
    space = Space.from_factors("MF", DOT, *fit_als(user_song_matrix(fit, users, songs), params), users)
    q_users = queries.sessions["user_id"].to_list()
    r1 = ranking_metrics(space.similar_songs(queries.sessions["query_song"].to_numpy(), k), queries.exp1_relevant, (k,))["recall"][k]
    r2 = ranking_metrics(space.recommend(q_users, k), queries.exp2_relevant, (k,))["recall"][k]
    users = np.unique(np.asarray(q_users), return_inverse=True)[1]
    boot = bootstrap_means(np.vstack([r1, r2]), samples, seed, groups=users).mean(axis=1)  # the two experiments on the same draws
    return (np.nanmean(r1) + r2.mean()) / 2, *np.quantile(boot, [0.025, 0.975])


def timed(label: str, call, *args):
    t = time.perf_counter()
    out = call(*args)
    print(f"  {label}: {time.perf_counter() - t:.1f} s", flush=True)
    return out, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train", nargs="+", type=Path)
    parser.add_argument("--skip-full", action="store_true", help="do not time the full grid (its scores still come from step 2)")
    parser.add_argument("--screen-iterations", type=int, nargs="*", default=[ALSGrid().screen_iterations],
                        help="step 3 for each of these numbers of screening iterations (none: no step 3)")
    parser.add_argument("--screen-queries", type=int, nargs="+", default=[defaults.VALIDATION_QUERIES, ALSGrid().screen_queries],
                        help="step 3 for each of these numbers of validation queries scoring the screening")
    args = parser.parse_args()
    grid = ALSGrid()
    n_points = len(grid.regularization) * len(grid.confidence_scale) * len(grid.iterations)
    for train in args.train:
        with tempfile.TemporaryDirectory() as tmp:
            files = StageFiles(STAGES["validation_split"], Path(tmp))
            counts = validation_split_files(train, files["fit"], files["validation"], defaults.VALIDATION_SESSIONS)
            fit, val = (pl.read_parquet(files[key], columns=EVENT_IDS) for key in ("fit", "validation"))
        print(f"{train}: fit {counts['fit_events']:,} events, {fit['user_id'].n_unique():,} users, {fit['song_id'].n_unique():,} songs; "
              f"validation {counts['validation_sessions']:,} sessions", flush=True)
        full_seconds = None
        if not args.skip_full:
            (_, _), full_seconds = timed(f"full grid ({n_points} points x {grid.iterations[0]} iterations)", tune_als, fit, val, replace(grid, search="full"))
        screened = {}  # the screened search with its finalists, timed for each number of screening queries
        for n_queries in args.screen_queries:
            (chosen, _), screened[n_queries] = timed(f"screened ({grid.screen_iterations} iterations on {n_queries:,} queries, "
                                                     f"{grid.finalists} finalists)", tune_als, fit, val, replace(grid, screen_queries=n_queries))
            print(f"  it chose reg={chosen.regularization} c={chosen.confidence_scale}", flush=True)
        lo = None
        for its, n_queries in ((i, q) for i in args.screen_iterations for q in args.screen_queries):
            (_, every), _ = timed(f"screened after {its} iterations on {n_queries:,} queries, every point a finalist", tune_als, fit, val,
                                  replace(grid, screen_iterations=its, finalists=n_points, screen_queries=n_queries))
            best = every.row(0, named=True)
            if lo is None:
                params = ALSParams(grid.factors, best["regularization"], best["iterations"], best["confidence_scale"])
                score, lo, hi = score_interval(fit, val, params, grid.tuning_k)
            by_screen = every.sort("screen_score", descending=True, maintain_order=True).with_row_index("screen_rank", 1)
            with pl.Config(tbl_rows=30, float_precision=4):
                print(by_screen.select("screen_rank", "regularization", "confidence_scale", "screen_score", "score",
                                       (pl.col("score") >= lo).alias("in_interval")).sort("score", descending=True))
            print(f"  full grid's best: reg={best['regularization']} c={best['confidence_scale']} score {score:.4f} (95 % users-resampled {lo:.4f}-{hi:.4f}),"
                  f" rank {by_screen.filter(pl.col('score') == best['score'])['screen_rank'][0]} after {its} iterations on {n_queries:,} queries")
            for f in range(1, 6):
                pick = by_screen.head(f).sort("score", descending=True).row(0, named=True)
                print(f"  {its} iterations on {n_queries:,} queries, {f} finalist(s): reg={pick['regularization']} c={pick['confidence_scale']} score {pick['score']:.4f} "
                      f"({'the same point as' if pick['score'] == best['score'] else 'inside' if pick['score'] >= lo else 'OUTSIDE'} the full grid's best"
                      f"{'' if pick['score'] == best['score'] else ' interval'})", flush=True)
        for n_queries, seconds in screened.items():
            print(f"  screened on {n_queries:,} queries: wall {seconds:.1f} s"
                  + (f" against the full grid's {full_seconds:.1f} s ({seconds / full_seconds:.0%})" if full_seconds else ""), flush=True)


if __name__ == "__main__":
    main()
