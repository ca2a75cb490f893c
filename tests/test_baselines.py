import numpy as np
import polars as pl
import pytest

from pipeline.evaluation.baselines import ALSParams, catalogue, confidence, fit_als, play_counts, user_song_matrix

TRAIN = pl.DataFrame({"user_id": ["u2", "u1", "u1", "u1", "u2"], "song_id": ["b", "a", "a", "c", "a"]})


def test_catalogue_is_sorted_ids():
    assert catalogue(TRAIN) == (["u1", "u2"], ["a", "b", "c"])


def test_play_counts_follow_the_given_order():
    assert play_counts(TRAIN, ["c", "a", "b", "never"]).tolist() == [1, 3, 1, 0]


def test_confidence_is_one_plus_log_one_plus_plays():
    plays = user_song_matrix(TRAIN, ["u1", "u2"], ["a", "b", "c"])
    assert plays.toarray().tolist() == [[2, 0, 1], [1, 1, 0]]
    conf = confidence(plays).toarray()
    assert conf[0, 0] == pytest.approx(1 + np.log(3))  # two plays
    assert conf[0, 2] == pytest.approx(1 + np.log(2))  # one play
    assert conf[0, 1] == 0  # unobserved stays implicit (confidence 1 inside ALS)
    assert confidence(np.array([0, 1, 3])) == pytest.approx([1.0, 1 + np.log(2), 1 + np.log(4)])


def test_als_factors_are_seeded_and_fit_the_observed_pairs():
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(30)]
    songs = [f"s{i}" for i in range(40)]
    # Two blocks: users 0-14 play songs 0-19, users 15-29 play songs 20-39.
    rows = [(u, s) for u in range(30) for s in rng.choice(20, 8, replace=False) + (0 if u < 15 else 20)]
    train = pl.DataFrame({"user_id": [users[u] for u, _ in rows], "song_id": [songs[s] for _, s in rows]})
    plays = user_song_matrix(train, users, songs)
    params = ALSParams(factors=4, iterations=10, seed=1)
    uf, itf = fit_als(plays, params)
    uf2, _ = fit_als(plays, params)
    assert uf.shape == (30, 4) and itf.shape == (40, 4)
    assert np.allclose(uf, uf2)
    scores = uf @ itf.T
    assert scores[:15, :20].mean() > scores[:15, 20:].mean()
    assert scores[15:, 20:].mean() > scores[15:, :20].mean()
