from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.evaluate import (
    DOT,
    EUCLIDEAN,
    Space,
    build_queries,
    nearest,
    random_ranking,
    ranked_by_score,
    recall_precision,
    reference_sessions,
    run_experiments,
)

T = datetime(2016, 6, 2, tzinfo=timezone.utc)


def test_recall_and_precision_worked_example():
    top = np.array([[1, 2, 3], [0, 1, 2]])
    relevant = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]], dtype=bool))
    out = recall_precision(top, relevant, k_values=(1, 2, 3))
    # query 0: relevant {2, 5}; hits at ranks 2 -> recall@1 0, @2 1/2, @3 1/2; precision 0, 1/2, 1/3
    assert [out[k][0][0] for k in (1, 2, 3)] == [0.0, 0.5, 0.5]
    assert np.allclose([out[k][1][0] for k in (1, 2, 3)], [0.0, 0.5, 1 / 3])
    assert np.isnan(out[1][0][1])  # no relevant song: left out of the average


def test_distance_choice_changes_the_answer():
    items = np.array([[1.0, 0.0], [10.0, 10.0], [-1.0, 0.0]])
    query = np.array([[1.0, 0.0]])
    assert nearest(query, items, 1, EUCLIDEAN).tolist() == [[0]]
    assert nearest(query, items, 1, DOT).tolist() == [[1]]
    assert nearest(query, items, 3, EUCLIDEAN).tolist() == [[0, 2, 1]]


def test_excluded_item_is_never_returned():
    items = np.eye(4)
    top = nearest(items, items, 3, EUCLIDEAN, exclude=np.arange(4), batch_size=3)
    assert all(i not in row for i, row in enumerate(top.tolist()))
    assert top.shape == (4, 3)


def test_popularity_and_random_rankings():
    counts = np.array([5, 9, 1, 7])
    assert ranked_by_score(counts, 2, 2).tolist() == [[1, 3], [1, 3]]
    assert ranked_by_score(counts, 2, 2, exclude=np.array([1, 2])).tolist() == [[3, 0], [1, 3]]
    r = random_ranking(10, 50, 5, seed=1, exclude=np.full(50, 4))
    assert all(len(set(row)) == 5 and 4 not in row for row in r.tolist())
    assert np.array_equal(r, random_ranking(10, 50, 5, seed=1, exclude=np.full(50, 4)))


def test_queries_take_the_first_song_and_the_rest_is_relevant():
    test = pl.DataFrame({
        "session_id": [7, 7, 7, 7, 8, 8],
        "timestamp": [T + timedelta(minutes=m) for m in (3, 0, 6, 9, 0, 3)],
        "user_id": ["u"] * 6, "device": ["m"] * 6,
        "song_id": ["b", "a", "c", "a", "c", "c"],
    })
    q = build_queries(test, ["a", "b", "c"])
    assert q.sessions["query_song"].to_list() == [0, 2]  # "a" started session 7, "c" session 8
    assert q.exp1_relevant.toarray().tolist() == [[False, True, True], [False, False, False]]
    assert q.exp2_relevant.toarray().tolist() == [[True, True, True], [False, False, True]]


def test_reference_session_is_the_latest_on_the_same_device():
    train = pl.DataFrame({
        "session_id": ["1", "2", "3", "4"], "user_id": ["u", "u", "u", "v"], "device": ["m", "m", "d", "m"],
        "start": [T - timedelta(days=d) for d in (9, 2, 1, 1)],
    })
    queries = pl.DataFrame({"user_id": ["u", "u", "v", "v"], "device": ["m", "d", "m", "tv"]})
    assert reference_sessions(train, queries).to_list() == ["2", "3", "4", None]


def test_run_experiments_on_a_space_that_knows_the_answer():
    # Songs 0-1 form one cluster, 2-3 another; a test session plays 0 then 1.
    songs = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    test = pl.DataFrame({
        "session_id": [1, 1], "timestamp": [T, T + timedelta(minutes=3)], "user_id": ["u", "u"],
        "device": ["m", "m"], "song_id": ["s0", "s1"],
    })
    q = build_queries(test, ["s0", "s1", "s2", "s3"])
    space = Space("proposed", EUCLIDEAN, songs, users={"u": np.array([5.0, 5.0])}, sessions={"9": np.array([0.0, 0.0])})
    train_sessions = pl.DataFrame({"session_id": ["9"], "user_id": ["u"], "device": ["m"], "start": [T - timedelta(days=1)]})
    table, notes = run_experiments(q, [space], np.array([1, 1, 9, 8]), train_sessions, device_space="proposed", k_values=(1, 2))
    get = {(r["experiment"], r["method"], r["k"]): r["recall"] for r in table.iter_rows(named=True)}
    assert get[("exp1", "proposed", 1)] == 1.0  # song 1 is nearest song 0
    assert get[("exp1", "popularity", 1)] == 0.0  # the most popular is song 2
    assert get[("exp2", "proposed-user", 2)] == 0.0  # the user vector sits in the other cluster
    assert get[("exp2", "proposed-device", 2)] == 1.0  # the reference session sits with songs 0 and 1
    assert notes["device_reference_fallbacks"] == 0
