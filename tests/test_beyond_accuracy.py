"""Beyond-accuracy measures on lists whose answers are worked out by hand."""

import math

import numpy as np

from pipeline.evaluation.beyond_accuracy import UNKNOWN, TrainHistory, beyond_accuracy, intra_list_diversity

COUNTS = np.array([8, 4, 2, 1, 1])  # 16 plays in all
TOP = np.array([[0, 1, 2], [0, 3, 1]])


def test_coverage_popularity_and_novelty():
    m = beyond_accuracy(TOP, [2], COUNTS)[2]
    # the top 2: {0, 1} and {0, 3}: songs 0, 1, 3 of 5
    assert m["coverage"] == 3 / 5
    assert m["popularity"] == (8 + 4 + 8 + 1) / 4
    # self-information: song 0 is 1 bit (8/16), song 1 2 bits, song 3 4 bits
    assert math.isclose(m["novelty"], (1 + 2 + 1 + 4) / 4)
    assert beyond_accuracy(TOP, [3], COUNTS)[3]["coverage"] == 4 / 5


def test_rare_songs_and_songs_the_user_already_heard():
    import polars as pl

    # plays at k = 2: 8, 4 and 8, 1: one of four lists' songs is played at most twice; at k = 3 also song 2 (2 plays)
    assert beyond_accuracy(TOP, [2], COUNTS)[2]["rare"] == 1 / 4
    assert beyond_accuracy(TOP, [3], COUNTS)[3]["rare"] == 2 / 6
    # u played a and c (twice), v played d; the queries are u's and v's, and a user train never saw
    train = pl.DataFrame({"user_id": ["u", "u", "v", "u"], "song_id": ["a", "c", "d", "c"]})
    history = TrainHistory.from_train(train, ["u", "v"], ["a", "b", "c", "d", "e"])
    heard = history.heard(np.vstack([TOP, TOP[:1]]), history.rows(["u", "v", "w"]))
    assert heard.tolist() == [[True, False, True], [False, True, False], [False, False, False]]
    m = beyond_accuracy(TOP, [2], COUNTS, heard=heard[:2])[2]
    assert m["heard"] == 2 / 4 and "heard" not in beyond_accuracy(TOP, [2], COUNTS)[2]


def test_intra_list_diversity_counts_only_known_pairs():
    genre = np.array([0, 0, 1, UNKNOWN, 1])
    # list 1: songs 0, 1, 2 -> genres 0, 0, 1: pairs (0,1) same, (0,2) and (1,2) differ: 2/3
    # list 2: songs 0, 3, 1 -> 0, ?, 0: one known pair, the same: 0
    m = beyond_accuracy(TOP, [3], COUNTS, {"genre": genre})[3]
    assert math.isclose(m["diversity_genre"], (2 / 3 + 0) / 2)
    assert math.isnan(intra_list_diversity(np.array([[UNKNOWN, 0], [1, UNKNOWN]])))  # no list has a known pair


def test_tag_codes_follow_the_catalogue_order_and_mark_unknown(tmp_path):
    import polars as pl

    from pipeline.evaluation.beyond_accuracy import tag_codes

    path = tmp_path / "train.parquet"
    pl.DataFrame({"song_id": ["b", "a", "b", "c"], "artist": ["X", "Y", None, None], "genre": [None, "rock", "pop", None],
                  "language": [None, None, None, None]}, schema_overrides={"language": pl.String}).write_parquet(path)
    codes = tag_codes(path, ["a", "b", "c"])
    assert set(codes) == {"artist", "genre"}  # the log has no language
    assert codes["artist"].tolist() == [1, 0, UNKNOWN] and codes["genre"].tolist() == [1, 0, UNKNOWN]  # b's first genre is pop


def test_intra_list_diversity_with_a_huge_value_range_needs_no_rows_by_values_table():
    # 200,000 lists over 10^9 possible values: a rows x values count table would be 1.6 PB
    codes = np.tile(np.array([[0, 999_999_999, 999_999_999, 7]], dtype=np.int64), (200_000, 1))
    assert math.isclose(intra_list_diversity(codes), 5 / 6)  # of 6 pairs only (999..., 999...) is alike


def test_every_k_at_once_is_each_k_by_the_definition():
    """The one-pass measures at every k against the definitions written out plainly, on random lists."""
    rng = np.random.default_rng(5)
    n_songs, width = 30, 10
    top = np.stack([rng.permutation(n_songs)[:width] for _ in range(60)])
    counts = rng.integers(1, 6, n_songs)
    genre = np.where(rng.random(n_songs) < 0.3, UNKNOWN, rng.integers(0, 4, n_songs))
    heard = rng.random(top.shape) < 0.4
    got = beyond_accuracy(top, range(1, width + 1), counts, {"genre": genre}, heard)
    for k in range(1, width + 1):
        lists = top[:, :k]
        plays = counts[lists]
        shares = []
        for row in genre[lists]:
            known = row[row != UNKNOWN]
            pairs = [(a, b) for i, a in enumerate(known) for b in known[i + 1:]]
            if pairs:
                shares.append(sum(a != b for a, b in pairs) / len(pairs))
        want = {"coverage": len(set(lists.ravel())) / n_songs, "popularity": plays.mean(),
                "novelty": (-np.log2(plays / counts.sum())).mean(), "rare": (plays <= 2).mean(),
                "heard": heard[:, :k].mean(), "diversity_genre": np.mean(shares) if shares else np.nan}
        assert set(got[k]) == set(want)
        for name, value in want.items():
            assert math.isclose(got[k][name], value, rel_tol=1e-12) or (math.isnan(value) and math.isnan(got[k][name])), (k, name)


def test_diversity_at_each_k_counts_the_pairs_of_the_first_k():
    # one list: genres 0, 0, 1, ?, 1. k=2: one pair, alike (0); k=3: 3 pairs, 2 differ; k=4: no new known pair;
    # k=5: 6 known pairs, alike: (0,0) and (1,1), so 4 differ
    codes = np.array([[0, 0, 1, UNKNOWN, 1]])
    assert np.allclose(intra_list_diversity(codes, [2, 3, 4, 5]), [0, 2 / 3, 2 / 3, 4 / 6])
    assert math.isnan(intra_list_diversity(codes, [1])[0])
