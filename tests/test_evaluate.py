from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from pipeline import defaults
from pipeline.evaluation.experiments import run_experiments
from pipeline.evaluation.measures import bootstrap_intervals, bootstrap_means, ordering_verdicts, ranking_metrics
from pipeline.evaluation.methods import Popularity, RandomSongs, Space, random_ranking, ranked_by_score
from pipeline.evaluation.nearest import DOT, EUCLIDEAN, nearest, unique_rows
from pipeline.evaluation.queries import build_queries, reference_sessions
from pipeline.evaluation.sknn import SessionKNN

T = datetime(2016, 6, 2, tzinfo=timezone.utc)


def test_recall_and_precision_worked_example():
    top = np.array([[1, 2, 3], [0, 1, 2]])
    relevant = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]], dtype=bool))
    out = ranking_metrics(top, relevant, k_values=(1, 2, 3))
    # query 0: relevant {2, 5}; one hit, at rank 2 -> recall@1 0, @2 1/2, @3 1/2; precision 0, 1/2, 1/3
    assert [out["recall"][k][0] for k in (1, 2, 3)] == [0.0, 0.5, 0.5]
    assert np.allclose([out["precision"][k][0] for k in (1, 2, 3)], [0.0, 0.5, 1 / 3])
    assert [out["hit_rate"][k][0] for k in (1, 2, 3)] == [0.0, 1.0, 1.0]
    # NDCG@3: DCG = 1/log2(3); ideal with two relevant songs = 1 + 1/log2(3)
    assert out["ndcg"][3][0] == np.float64(1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert out["ndcg"][1][0] == 0.0
    assert np.isnan(out["recall"][1][1])  # no relevant song: left out of the average


def test_ndcg_is_one_for_a_perfect_ranking():
    relevant = sp.csr_matrix(np.array([[1, 1, 0, 0]], dtype=bool))
    out = ranking_metrics(np.array([[0, 1, 2]]), relevant, k_values=(1, 3))
    assert out["ndcg"][1][0] == 1.0 and out["ndcg"][3][0] == 1.0


def test_bootstrap_intervals_are_seeded_and_cover_the_mean():
    rng = np.random.default_rng(0)
    values = np.stack([rng.random(400), rng.random(400) * 0.1])
    lo, hi = bootstrap_intervals(values, 500, seed=1)
    assert np.array_equal((lo, hi), bootstrap_intervals(values, 500, seed=1))
    assert (lo < values.mean(axis=1)).all() and (values.mean(axis=1) < hi).all()
    assert hi[1] < lo[0]  # clearly different means separate
    wide = bootstrap_intervals(values[:, :40], 500, seed=1)
    assert (wide[1] - wide[0] > hi - lo).all()  # fewer queries, wider intervals


def test_ordering_verdicts():
    rows = []
    for k, (a, b) in {10: ((0.5, 0.6), (0.1, 0.2)), 20: ((0.5, 0.6), (0.55, 0.7))}.items():
        rows += [{"experiment": "exp1", "method": "proposed", "k": k, "recall_lo": a[0], "recall_hi": a[1]},
                 {"experiment": "exp1", "method": "U-S", "k": k, "recall_lo": b[0], "recall_hi": b[1]},
                 {"experiment": "exp1", "method": "MF", "k": k, "recall_lo": 0.7, "recall_hi": 0.8}]
    verdicts = ordering_verdicts(pl.DataFrame(rows), orderings=(("exp1", "proposed", "U-S", 0), ("exp1", "proposed", "MF", 0)))
    assert verdicts.select("ordering", "k_separated_as_claimed", "verdict").rows() == [
        ("proposed > U-S", 1, "mixed"), ("proposed > MF", 0, "reversed")
    ]


def test_session_knn_scores_songs_of_similar_sessions():
    train = pl.DataFrame({
        "session_id": [1, 1, 1, 2, 2, 3, 3],
        "user_id": ["u", "u", "u", "u", "u", "v", "v"],
        "song_id": ["a", "b", "c", "a", "b", "d", "e"],
    })
    songs = ["a", "b", "c", "d", "e"]
    model = SessionKNN.from_train(train, songs, popularity=np.array([1, 1, 1, 5, 1]), neighbours=1)
    # Query {a}: the single nearest session is 2 ({a, b}: cos 1/sqrt2 beats {a,b,c}'s 1/sqrt3).
    query = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32))
    top = model.rank(query, 2, exclude=np.array([0]))
    assert top.tolist() == [[1, 3]]  # b from the neighbour, then the tie broken by popularity (d)
    assert model.query_sets(["v"]).toarray().tolist() == [[0, 0, 0, 1, 1]]
    assert model.query_sets(["u"], ["2"]).toarray().tolist() == [[1, 1, 0, 0, 0]]


def test_sampled_session_knn_from_train_knows_each_session_start():
    """Session 1 ({a, b, c}) is the latest: with a sample of one it is the only candidate, though 2 ({a, b}) is nearer."""
    train = pl.DataFrame({
        "session_id": [2, 2, 1, 1, 1], "user_id": ["u"] * 5, "device": ["m"] * 5, "song_id": ["a", "b", "a", "b", "c"],
        "timestamp": [datetime(2016, 5, 1, tzinfo=timezone.utc) + timedelta(hours=h) for h in (1, 1, 9, 9, 9)],
    })
    query = sp.csr_matrix(np.array([[1, 0, 0]], dtype=np.float32))
    exact = SessionKNN.from_train(train, ["a", "b", "c"], popularity=np.array([1, 1, 5]), neighbours=1)
    sampled = SessionKNN.from_train(train, ["a", "b", "c"], popularity=np.array([1, 1, 5]), neighbours=1, sample=1)
    assert exact.rank(query, 2, exclude=np.array([0])).tolist() == [[1, 2]]  # b from session 2, then c by popularity
    assert sampled.rank(query, 2, exclude=np.array([0])).tolist() == [[2, 1]]  # b and c from session 1: c is more popular


def test_distance_choice_changes_the_answer():
    items = np.array([[1.0, 0.0], [10.0, 10.0], [-1.0, 0.0]])
    query = np.array([[1.0, 0.0]])
    assert nearest(query, items, 1, EUCLIDEAN).tolist() == [[0]]
    assert nearest(query, items, 1, DOT).tolist() == [[1]]
    assert nearest(query, items, 3, EUCLIDEAN).tolist() == [[0, 2, 1]]


def test_a_space_searched_by_cosine_or_inner_product_is_a_separately_named_method():
    # One user at (1, 1); songs at (1, 0), (3, 3), (0.2, 0.5). Squared distances 1, 8, 0.89; inner products
    # 1, 6, 0.7; cosines 0.71, 1, 0.92: three different orders of the same vectors.
    songs = np.array([[1.0, 0.0], [3.0, 3.0], [0.2, 0.5]])
    space = Space("proposed", EUCLIDEAN, songs, users={"u": np.array([1.0, 1.0])}, sessions={"7": np.array([2.0, 2.0])})
    cosine, dot = space.with_similarity("cosine"), space.with_similarity("dot")
    assert (cosine.name, dot.name) == ("proposed/cosine", "proposed/dot")
    assert space.recommend(["u"], 3).tolist() == [[2, 0, 1]]
    assert dot.recommend(["u"], 3).tolist() == [[1, 0, 2]]
    assert cosine.recommend(["u"], 3).tolist() == [[1, 2, 0]]
    assert cosine.recommend(["u"], 3, sessions=["7"]).tolist() == [[1, 2, 0]]  # a session's length does not matter either
    # similar songs: song 2's nearest by Euclidean distance is song 0 (0.85 against 3.6), by cosine song 1 (0.92 against 0.37)
    assert space.similar_songs(np.array([2]), 1).tolist() == [[0]]
    assert cosine.similar_songs(np.array([2]), 2).tolist() == [[1, 0]]
    assert space.users is cosine.users and space.songs is not cosine.songs  # the vectors are shared, only songs rescaled
    with pytest.raises(ValueError, match="unknown similarity 'manhattan'"):
        space.with_similarity("manhattan")


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
    lines = []
    methods = [space, Popularity(np.array([1, 1, 9, 8])), RandomSongs(4, seed=1)]
    table, notes, _ = run_experiments(q, methods, train_sessions, k_values=(1, 2), bootstrap_samples=20, progress=lines.append)
    get = {(r["experiment"], r["method"], r["k"]): r["recall"] for r in table.iter_rows(named=True)}
    assert get[("exp1", "proposed", 1)] == 1.0  # song 1 is nearest song 0
    assert get[("exp1", "popularity", 1)] == 0.0  # the most popular is song 2
    assert get[("exp2", "proposed-user", 2)] == 0.0  # the user vector sits in the other cluster
    assert get[("exp2", "proposed-device", 2)] == 1.0  # the reference session sits with songs 0 and 1
    assert notes["device_reference_fallbacks"] == 0
    # every retrieval is timed and reported once
    retrievals = set(table.select("experiment", "method").unique().iter_rows())
    assert {tuple(k.split(".")[:2]) for k in notes if k.endswith(".seconds")} == retrievals
    assert len(lines) == len(retrievals) and all("for 1 queries in" in line for line in lines)


def test_equal_queries_are_searched_once_with_the_same_answers():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(300, 8)).astype(np.float32)
    picks = rng.integers(0, 40, size=500)  # 500 queries, at most 40 distinct
    queries, exclude = items[picks], picks
    assert len(unique_rows(queries, exclude)[0]) == len(np.unique(picks))
    got = nearest(queries, items, 10, EUCLIDEAN, exclude=exclude, batch_size=64)
    d = ((queries[:, None, :] - items[None]) ** 2).sum(-1)
    d[np.arange(500), exclude] = np.inf
    assert got.tolist() == np.argsort(d, axis=1, kind="stable")[:, :10].tolist()


def test_tiles_batches_and_workers_do_not_change_the_answer():
    # Scores are taken a tile of items and a batch of queries at a time, on two threads; the
    # running top k must come out as one sort of every item would (ties: lower index first).
    rng = np.random.default_rng(3)
    items = rng.integers(-3, 4, size=(301, 4)).astype(np.float32)  # small integers: many exact ties
    queries = rng.integers(-3, 4, size=(90, 4)).astype(np.float32)
    exclude = rng.integers(-1, 301, size=90)  # -1: nothing excluded
    for metric in (EUCLIDEAN, DOT):
        scores = -((queries[:, None, :] - items[None]) ** 2).sum(-1) if metric == EUCLIDEAN else queries @ items.T
        scores[np.flatnonzero(exclude >= 0), exclude[exclude >= 0]] = -np.inf
        want = np.argsort(-scores, axis=1, kind="stable")[:, :12]
        for batch_size, tile, workers in [(16, 7, 2), (90, 301, 1), (8, 64, 3)]:
            got = nearest(queries, items, 12, metric, exclude=exclude, batch_size=batch_size, tile=tile, workers=workers)
            assert got.tolist() == want.tolist(), (metric, batch_size, tile, workers)


def sknn_by_the_definition(sessions, popularity, neighbours, query, k, exclude=-1, sample=0, recency=None):
    """SKNN written out plainly: every session scored, sorted, summed (the kernel's tie rules); with ``sample``,
    only the ``sample`` most recent sessions sharing a song (by recency, then row, the latest first) are candidates."""
    sess = [set(np.flatnonzero(row)) for row in sessions]
    q = set(np.flatnonzero(query))
    q_norm = 1.0 / np.sqrt(max(len(q), 1))
    candidates = [i for i, s in enumerate(sess) if q & s]
    if sample:
        candidates = sorted(candidates, key=lambda i: (recency[i], i), reverse=True)[:sample]
    sims = [(len(q & sess[i]) * q_norm * (1.0 / np.sqrt(max(len(sess[i]), 1.0))), i) for i in candidates]
    nearest_sessions = sorted(sims, key=lambda t: (-t[0], t[1]))[:neighbours]
    score: dict[int, float] = {}
    for sim, i in nearest_sessions:
        for song in sorted(sess[i]):
            score[song] = score.get(song, 0.0) + sim
    rank = {song: r for r, song in enumerate(np.argsort(popularity, kind="stable")[::-1])}
    scored = sorted((s for s in score if s != exclude), key=lambda s: (-score[s], rank[s]))
    rest = [s for s in sorted(rank, key=rank.get) if s not in score and s != exclude]
    return (scored + rest)[:k]


def test_session_knn_kernel_matches_the_definition_and_ranks_equal_queries_once():
    rng = np.random.default_rng(1)
    dense = (rng.random((150, 40)) < 0.12).astype(np.float32)
    popularity = rng.integers(0, 5, size=40)  # many equal popularities: the tie rule matters
    model = SessionKNN(sp.csr_matrix(dense), popularity=popularity, neighbours=7)
    rows = rng.integers(0, 25, size=90)  # 90 queries, at most 25 distinct
    queries = sp.csr_matrix(dense[rows])
    exclude = rng.integers(-1, 40, size=25)[rows]
    got = model.rank(queries, 12, exclude=exclude)
    for i in range(90):
        assert got[i].tolist() == sknn_by_the_definition(dense, popularity, 7, dense[rows[i]], 12, exclude[i]), i
    assert model.rank(queries[:1], 12, exclude=exclude[:1]).tolist() == got[:1].tolist()


def test_sampled_session_knn_takes_the_most_recent_sessions_sharing_a_song():
    rng = np.random.default_rng(2)
    dense = (rng.random((300, 40)) < 0.15).astype(np.float32)
    popularity = rng.integers(0, 5, size=40)
    recency = rng.integers(0, 60, size=300)  # many equal starts: the later row counts as the more recent
    queries = (rng.random((60, 40)) < 0.2).astype(np.float32)
    queries[:10] = 0
    queries[np.arange(10), rng.integers(0, 40, 10)] = 1  # one-song queries too
    exclude = rng.integers(-1, 40, size=60)
    for sample in (1, 13, 40):
        model = SessionKNN(sp.csr_matrix(dense), popularity=popularity, neighbours=7, sample=sample, recency=recency)
        got = model.rank(sp.csr_matrix(queries), 12, exclude=exclude)
        for i in range(60):
            want = sknn_by_the_definition(dense, popularity, 7, queries[i], 12, exclude[i], sample, recency)
            assert got[i].tolist() == want, (sample, i)
    # a sample larger than any query's reach is exact SKNN
    exact = SessionKNN(sp.csr_matrix(dense), popularity=popularity, neighbours=7).rank(sp.csr_matrix(queries), 12, exclude=exclude)
    wide = SessionKNN(sp.csr_matrix(dense), popularity=popularity, neighbours=7, sample=300, recency=recency)
    assert wide.rank(sp.csr_matrix(queries), 12, exclude=exclude).tolist() == exact.tolist()
    with pytest.raises(ValueError, match="recency"):
        SessionKNN(sp.csr_matrix(dense), popularity=popularity, sample=5)


def test_a_query_a_row_has_no_value_for_weighs_nothing_in_its_resampled_mean():
    values = np.array([[0.2, np.nan, 0.6, np.nan], [0.2, 0.4, 0.6, 0.8]])
    means = bootstrap_means(values, 400, seed=2)
    rng = np.random.default_rng([2, defaults.STREAM_BOOTSTRAP])
    w = np.vstack([rng.poisson(1.0, size=(50, 4)) for _ in range(8)]).astype(float)
    assert np.allclose(means[:, 0], (w[:, [0, 2]] @ [0.2, 0.6]) / np.maximum(w[:, [0, 2]].sum(axis=1), 1))
    assert np.allclose(means[:, 1], (w @ values[1]) / np.maximum(w.sum(axis=1), 1))


def test_the_user_level_bootstrap_draws_whole_users():
    """Ten users with ten identical sessions each: the sessions carry no more information than the users, so the
    user-level interval is about sqrt(10) times as wide as the one that takes the 100 sessions as independent."""
    rng = np.random.default_rng(0)
    per_user = rng.uniform(0, 1, 10)
    values = np.repeat(per_user, 10)[None, :]
    users = np.repeat(np.arange(10), 10)
    lo_s, hi_s = bootstrap_intervals(values, 2000, seed=3)
    lo_u, hi_u = bootstrap_intervals(values, 2000, seed=3, groups=users)
    assert 2.5 < (hi_u - lo_u)[0] / (hi_s - lo_s)[0] < 4.0
    assert lo_u[0] < values.mean() < hi_u[0]
    # one session a user: drawing users is drawing sessions (a different stream, the same width within sampling error)
    single = rng.uniform(0, 1, (1, 200))
    lo1, hi1 = bootstrap_intervals(single, 2000, seed=3)
    lo2, hi2 = bootstrap_intervals(single, 2000, seed=3, groups=np.arange(200))
    assert abs((hi2 - lo2)[0] / (hi1 - lo1)[0] - 1) < 0.15


def test_verdicts_use_the_user_level_intervals_and_say_what_sessions_would():
    rows = []
    for k in (10, 20):
        rows += [{"experiment": "exp1", "method": "proposed", "k": k, "recall_lo": 0.5, "recall_hi": 0.6,
                  "recall_user_lo": 0.3, "recall_user_hi": 0.8},
                 {"experiment": "exp1", "method": "MF", "k": k, "recall_lo": 0.3, "recall_hi": 0.4,
                  "recall_user_lo": 0.2, "recall_user_hi": 0.5}]
    v = ordering_verdicts(pl.DataFrame(rows), orderings=(("exp1", "proposed", "MF", 0),)).row(0, named=True)
    assert (v["verdict"], v["interval"], v["verdict_by_sessions"]) == ("not separable", "users", "holds")


def test_hits_are_the_ranked_items_in_the_query_s_relevant_row_sorted_or_not():
    import scipy.sparse as sparse

    from pipeline.evaluation.measures import hits_of

    # row 0 relevant {5, 2} given in that order (unsorted indices); row 1 nothing; row 2 {0}
    relevant = sparse.csr_matrix((np.ones(3, bool), np.array([5, 2, 0]), np.array([0, 2, 2, 3])), shape=(3, 6))
    assert not relevant.has_sorted_indices
    top = np.array([[2, 3, 5], [2, 5, 0], [1, 0, 4]])
    assert hits_of(top, relevant).tolist() == [[True, False, True], [False, False, False], [False, True, False]]
    with pytest.raises(ValueError, match="2 rankings for 3 queries"):
        hits_of(top[:2], relevant)


def test_session_knn_counts_densely_and_by_postings_alike(monkeypatch):
    """150 songs (so 64 are counted by mask and 86 by postings in the dense count), ten of them in half the sessions:
    every query counted densely, and every query counted by its postings, against the definition."""
    import pipeline.evaluation.sknn as sknn

    rng = np.random.default_rng(4)
    dense = (rng.random((400, 150)) < 0.04).astype(np.float32)
    dense[:, :10] = rng.random((400, 10)) < 0.5
    popularity = rng.integers(0, 5, size=150)
    model = SessionKNN(sp.csr_matrix(dense), popularity=popularity, neighbours=9)
    assert (model.heavy_bit >= 0).sum() == sknn.HEAVY and set(np.flatnonzero(model.heavy_bit >= 0)) >= set(range(10))
    queries = (rng.random((40, 150)) < 0.15).astype(np.float32)
    exclude = rng.integers(-1, 150, size=40)
    want = [sknn_by_the_definition(dense, popularity, 9, queries[i], 15, exclude[i]) for i in range(40)]
    for share in (0.0, 10.0):  # dense whenever a heavy song is in the query; never
        monkeypatch.setattr(sknn, "DENSE_REACH", share)
        assert model.rank(sp.csr_matrix(queries), 15, exclude=exclude).tolist() == want, share


def test_a_sample_of_the_queries_keeps_each_session_with_its_relevant_songs():
    test = pl.DataFrame({
        "timestamp": [T + timedelta(minutes=i) for i in range(12)],
        "session_id": np.repeat(np.arange(6), 2), "user_id": ["u"] * 12, "device": ["d"] * 12,
        "song_id": [f"s{i}" for i in range(12)],
    })
    queries = build_queries(test, [f"s{i}" for i in range(12)])
    sample = queries.sample(4, seed=3, stream=19)
    assert sample.n == 4 and sample.sessions["session_id"].is_sorted() and sample.n_sessions_total == 6
    for row, session in enumerate(sample.sessions["session_id"].to_list()):  # session i holds songs 2i and 2i+1
        assert sample.sessions["query_song"][row] == 2 * session
        assert sample.exp2_relevant[row].indices.tolist() == [2 * session, 2 * session + 1]
        assert sample.exp1_relevant[row].indices.tolist() == [2 * session + 1]
    assert sample.sessions.equals(queries.sample(4, seed=3, stream=19).sessions)  # seeded
    assert queries.sample(6, seed=3, stream=19) is queries
