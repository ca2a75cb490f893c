"""Beyond-accuracy measures on lists whose answers are worked out by hand."""

import math

import numpy as np

from pipeline.beyond_accuracy import UNKNOWN, TrainHistory, beyond_accuracy, intra_list_diversity

COUNTS = np.array([8, 4, 2, 1, 1])  # 16 plays in all
TOP = np.array([[0, 1, 2], [0, 3, 1]])


def test_coverage_popularity_and_novelty():
    m = beyond_accuracy(TOP, 2, COUNTS)
    # the top 2: {0, 1} and {0, 3}: songs 0, 1, 3 of 5
    assert m["coverage"] == 3 / 5
    assert m["popularity"] == (8 + 4 + 8 + 1) / 4
    # self-information: song 0 is 1 bit (8/16), song 1 2 bits, song 3 4 bits
    assert math.isclose(m["novelty"], (1 + 2 + 1 + 4) / 4)
    assert beyond_accuracy(TOP, 3, COUNTS)["coverage"] == 4 / 5


def test_rare_songs_and_songs_the_user_already_heard():
    import polars as pl

    # plays at k = 2: 8, 4 and 8, 1: one of four lists' songs is played at most twice; at k = 3 also song 2 (2 plays)
    assert beyond_accuracy(TOP, 2, COUNTS)["rare"] == 1 / 4
    assert beyond_accuracy(TOP, 3, COUNTS)["rare"] == 2 / 6
    # u played a and c (twice), v played d; the queries are u's and v's, and a user train never saw
    train = pl.DataFrame({"user_id": ["u", "u", "v", "u"], "song_id": ["a", "c", "d", "c"]})
    history = TrainHistory.from_train(train, ["u", "v"], ["a", "b", "c", "d", "e"])
    heard = history.heard(np.vstack([TOP, TOP[:1]]), history.rows(["u", "v", "w"]))
    assert heard.tolist() == [[True, False, True], [False, True, False], [False, False, False]]
    m = beyond_accuracy(TOP, 2, COUNTS, heard=heard[:2])
    assert m["heard"] == 2 / 4 and "heard" not in beyond_accuracy(TOP, 2, COUNTS)


def test_intra_list_diversity_counts_only_known_pairs():
    genre = np.array([0, 0, 1, UNKNOWN, 1])
    # list 1: songs 0, 1, 2 -> genres 0, 0, 1: pairs (0,1) same, (0,2) and (1,2) differ: 2/3
    # list 2: songs 0, 3, 1 -> 0, ?, 0: one known pair, the same: 0
    m = beyond_accuracy(TOP, 3, COUNTS, {"genre": genre})
    assert math.isclose(m["diversity_genre"], (2 / 3 + 0) / 2)
    assert math.isnan(intra_list_diversity(np.array([[UNKNOWN, 0], [1, UNKNOWN]])))  # no list has a known pair


def test_tag_codes_follow_the_catalogue_order_and_mark_unknown(tmp_path):
    import polars as pl

    from pipeline.beyond_accuracy import tag_codes

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
