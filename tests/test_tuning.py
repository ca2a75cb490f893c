"""Tuning on validation, on a small log with two taste groups: ALS (the screened search against the full grid) and the
skip-gram grid."""

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from pipeline.embedding.skipgram import SkipGramParams
from pipeline.evaluation.tuning import ALSGrid, skipgram_result, tune_als, tune_skipgram
from tests.helpers import T0


def _log(first_session: int, sessions_per_user: int, seed: int) -> pl.DataFrame:
    """24 users in two groups, each listening to 6-song sessions drawn from its own 40 songs."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(24):
        block = 40 * (u % 2)
        for s in range(sessions_per_user):
            start = T0 + timedelta(days=first_session + s)
            for j, song in enumerate(rng.choice(40, 6, replace=False) + block):
                rows.append((start + timedelta(minutes=4 * j), f"u{u}", "mobile", f"u{u}-s{first_session + s}", f"song{song:03d}"))
    return pl.DataFrame(rows, schema=["timestamp", "user_id", "device", "session_id", "song_id"], orient="row")


FIT, VAL = _log(0, 12, seed=1), _log(100, 3, seed=2)
AXES = {"factors": 8, "regularization": (0.01, 1.0, 100.0), "confidence_scale": (1.0, 20.0), "iterations": (6,)}


def test_the_screened_search_scores_its_finalists_as_the_full_grid_does():
    full_best, full = tune_als(FIT, VAL, ALSGrid(**AXES, search="full"), seed=5)
    best, screened = tune_als(FIT, VAL, ALSGrid(**AXES, search="screen", screen_iterations=2, finalists=2), seed=5)

    assert full.height == screened.height == 6 and full["screen_score"].null_count() == 6 and full["score"].null_count() == 0
    assert screened["screen_score"].null_count() == 0 and screened["score"].null_count() == 4  # 2 finalists
    finalists = screened.filter(pl.col("score").is_not_null())
    # the two best after 2 iterations, ...
    assert set(finalists["screen_score"]) == set(screened["screen_score"].sort(descending=True)[:2])
    # ... fitted on from there to exactly the factors (so the score) of a 6-iteration fit from scratch
    same = finalists.join(full.select("regularization", "confidence_scale", pl.col("score").alias("full")), on=["regularization", "confidence_scale"])
    assert same.height == 2 and same["score"].to_list() == same["full"].to_list()
    assert screened.row(0, named=True)["score"] == finalists["score"].max()
    assert (best.regularization, best.confidence_scale) == (screened["regularization"][0], screened["confidence_scale"][0])
    assert full["score"].is_sorted(descending=True) and (full_best.regularization, full_best.confidence_scale) == (full["regularization"][0], full["confidence_scale"][0])


def test_with_every_point_a_finalist_the_screened_search_ends_as_the_full_grid():
    _, full = tune_als(FIT, VAL, ALSGrid(**AXES, search="full"), seed=5)
    _, every = tune_als(FIT, VAL, ALSGrid(**AXES, screen_iterations=2, finalists=6), seed=5)
    assert every["screen_score"].null_count() == 0 and every["score"].to_list() == full["score"].to_list()
    assert every.select("regularization", "confidence_scale").equals(full.select("regularization", "confidence_scale"))


def test_an_unknown_search_is_refused():
    with pytest.raises(ValueError, match="'screen' or 'full', not 'random'"):
        ALSGrid(search="random")


def test_the_screening_scores_a_sample_of_the_queries_and_the_finalists_all_of_them():
    _, full = tune_als(FIT, VAL, ALSGrid(**AXES, search="full"), seed=5)
    _, on_all = tune_als(FIT, VAL, ALSGrid(**AXES, screen_iterations=2, finalists=6, screen_queries=1_000), seed=5)
    _, on_20 = tune_als(FIT, VAL, ALSGrid(**AXES, screen_iterations=2, finalists=6, screen_queries=20), seed=5)
    # every finalist is scored on all 72 validation sessions, whatever scored its screening
    assert on_20["score"].to_list() == on_all["score"].to_list() == full["score"].to_list()
    points = ["regularization", "confidence_scale"]
    screens = on_all.select(*points, "screen_score").join(on_20.select(*points, pl.col("screen_score").alias("on_20")), on=points)
    assert screens.height == 6 and (screens["screen_score"] != screens["on_20"]).any()  # 20 sessions score otherwise
    with pytest.raises(ValueError, match="screen_queries"):
        ALSGrid(screen_queries=0)


def test_the_skipgram_grid_resumes_from_the_points_it_scored(tmp_path):
    """A grid stopped midway scores only the points its record lacks: a recorded point is read back (here one
    doctored to win, which a retraining would undo), a missing one is trained again to the score it had."""
    base = SkipGramParams(dimensions=8, workers=1, seed=3)
    finished = tmp_path / "grid.json"

    def grid():
        return tune_skipgram(FIT, VAL, base, [1, 2], [0.025], tmp_path / "corpus.txt", window=[2, 4], walk_length=10,
                             walks_per_vertex=2, trainer="numba", finished=finished)

    best, first = grid()
    assert first.height == 4 and set(zip(first["epochs"], first["window"])) == {(1, 2), (1, 4), (2, 2), (2, 4)}
    assert (best.epochs, best.window) == (first["epochs"][0], first["window"][0]) and not (tmp_path / "corpus.txt").exists()
    rows = json.loads(finished.read_text())
    assert len(rows) == 4
    doctored = next(r for r in rows if (r["epochs"], r["window"]) == (2, 4))
    lost = next(r for r in rows if (r["epochs"], r["window"]) == (1, 2))
    finished.write_text(json.dumps([{**r, "score": 9.0} if r is doctored else r for r in rows if r is not lost]))

    best, again = grid()
    assert (best.epochs, best.window, again["score"][0]) == (2, 4, 9.0)  # read back, not retrained
    retrained = again.filter((pl.col("epochs") == 1) & (pl.col("window") == 2))
    assert retrained["score"].item() == lost["score"]  # one thread: the same vectors, the same score

    # a narrower grid reports only its points, and keeps the others on record; widened again, it trains nothing
    narrow = tune_skipgram(FIT, VAL, base, [1], [0.025], tmp_path / "corpus.txt", window=[2], walk_length=10,
                           walks_per_vertex=2, trainer="numba", finished=finished)[1]
    assert narrow.height == 1 and len(json.loads(finished.read_text())) == 4
    assert grid()[1]["score"][0] == 9.0


def test_the_skipgram_result_names_the_best_point_and_the_papers():
    grid = pl.DataFrame({"epochs": [3, 1], "alpha": [0.05, 0.025], "window": [6, 6], "score": [0.3, 0.2]})
    result = skipgram_result(grid, SkipGramParams())
    assert result["best"] == {"epochs": 3, "alpha": 0.05, "window": 6} and result["best_score"] == 0.3
    assert result["paper_score"] == 0.2 and result["enabled"]
    assert skipgram_result(grid.head(1), SkipGramParams())["paper_score"] is None  # the paper's point not in the grid


def test_the_skipgram_tuning_stage_refuses_a_trainer_it_cannot_resume_and_off_writes_so(tmp_path):
    from pipeline.contract import StageFiles
    from pipeline.evaluation.tuning import BadSetting, skipgram_tuning
    from pipeline.io import read_json

    out = StageFiles("skipgram_tuning", tmp_path)
    with pytest.raises(BadSetting, match="trainer 'spark-word2vec' is not one of gensim, numba"):
        skipgram_tuning({}, out, enabled=True, trainer="spark-word2vec", checkpoints=str(tmp_path / "c"))
    assert skipgram_tuning({}, out, enabled=False, checkpoints=str(tmp_path / "c")) == {"enabled": False}
    assert read_json(out["result"]) == {"enabled": False}
