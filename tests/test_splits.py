from datetime import timedelta

import polars as pl
import pytest
from helpers import T0

from pipeline.splits import real_life_split, split_files, table1

CUTOFF = (T0 + timedelta(days=10)).isoformat()


def session_rows(user, session_id, day, songs, device="m"):
    start = T0 + timedelta(days=day)
    return [
        {"timestamp": start + timedelta(minutes=3 * i), "user_id": user, "device": device, "song_id": s, "session_id": session_id}
        for i, s in enumerate(songs)
    ]


def log(sessions):
    rows = [r for s in sessions for r in session_rows(*s)]
    return pl.DataFrame(rows).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


def split(sessions, **kw):
    params = {"cutoff": CUTOFF, "train_sessions": 2, "test_sessions": 1, "min_session_songs": 2} | kw
    return real_life_split(log(sessions), **params)


def test_last_sessions_before_and_first_after_the_cutoff():
    result = split([
        ("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]), ("a", 2, 3, ["y", "z"]),  # before: last two train
        ("a", 3, 11, ["x", "y"]), ("a", 4, 12, ["z", "x"]),  # after: first one test
    ])
    assert sorted(result.train["session_id"].unique()) == [1, 2]
    assert sorted(result.test["session_id"].unique()) == [3]


def test_short_sessions_are_dropped_before_counting():
    result = split([
        ("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]), ("a", 2, 3, ["y"]),  # the 1-song session does not count
        ("a", 3, 11, ["q"]), ("a", 4, 12, ["z", "x"]),
    ])
    assert sorted(result.train["session_id"].unique()) == [0, 1]
    assert sorted(result.test["session_id"].unique()) == [4]
    assert result.counts["sessions_dropped_short"] == 2


def test_users_with_too_few_sessions_leave_train_and_test():
    result = split([
        ("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]), ("a", 2, 11, ["x", "y"]),
        ("b", 3, 1, ["x", "y"]), ("b", 4, 11, ["x", "y"]),  # one session before: not in train, so not in test
        ("c", 5, 1, ["x", "y"]), ("c", 6, 2, ["x", "y"]),  # nothing after: train only
    ])
    assert sorted(result.train["user_id"].unique()) == ["a", "c"]
    assert sorted(result.test["user_id"].unique()) == ["a"]
    assert result.counts["users_without_enough_train_sessions"] == 1
    assert result.counts["train_users_without_enough_test_sessions"] == 1


def test_cold_start_songs_leave_test_and_table1_counts():
    result = split([
        ("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]),
        ("a", 2, 11, ["x", "new", "y"]),
    ])
    assert result.test["song_id"].to_list() == ["x", "y"]
    assert result.counts["test_events_dropped_cold_start"] == 1
    table = {r["set"]: r for r in result.table1().iter_rows(named=True)}
    assert table["train"] == {"set": "train", "events": 4, "users": 1, "songs": 3, "sessions": 2}
    assert table["test"] == {"set": "test", "events": 2, "users": 1, "songs": 2, "sessions": 1}


def test_a_session_straddling_the_cutoff_belongs_to_neither_side():
    rows = log([("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]), ("a", 3, 11, ["x", "y"])])
    straddle = pl.DataFrame({
        "timestamp": [T0 + timedelta(days=10, minutes=-2), T0 + timedelta(days=10, minutes=1)],
        "user_id": ["a", "a"], "device": ["m", "m"], "song_id": ["x", "y"], "session_id": [2, 2],
    }).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    result = real_life_split(pl.concat([rows, straddle]), cutoff=CUTOFF, train_sessions=2, test_sessions=1, min_session_songs=2)
    assert result.counts["sessions_dropped_straddling_cutoff"] == 1
    assert 2 not in result.train["session_id"].to_list() + result.test["session_id"].to_list()


def test_bad_cutoff_is_named():
    with pytest.raises(ValueError, match="not an ISO date"):
        split([("a", 0, 1, ["x", "y"])], cutoff="June first")


def test_validation_takes_each_users_last_train_sessions():
    from pipeline.splits import validation_split

    train = log([
        ("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]), ("a", 2, 3, ["y", "new"]),  # last one validates
        ("b", 3, 1, ["x", "y"]),  # b has too few sessions: all fit, none validate
    ])
    fit, val, counts = validation_split(train, validation_sessions=1)
    assert sorted(fit["session_id"].unique()) == [0, 1, 3]
    assert val["session_id"].unique().to_list() == [2]
    assert val["song_id"].to_list() == ["y"]  # "new" never occurs in fit: dropped like a cold-start test event
    assert counts["validation_events_dropped_cold_start"] == 1 and counts["users_too_short_to_validate"] == 1
    with pytest.raises(ValueError, match="no user"):
        validation_split(train, validation_sessions=5)


def test_validation_split_files_streams_the_same_split(tmp_path):
    from pipeline.splits import validation_split, validation_split_files

    train = log([
        ("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]), ("a", 2, 3, ["y", "new"]), ("b", 3, 1, ["x", "y"]),
    ])
    train.write_parquet(tmp_path / "train.parquet")
    counts = validation_split_files(tmp_path / "train.parquet", tmp_path / "fit.parquet", tmp_path / "val.parquet", 1)
    fit, val, expected = validation_split(train, validation_sessions=1)
    assert counts == expected
    assert pl.read_parquet(tmp_path / "fit.parquet").equals(fit)
    assert pl.read_parquet(tmp_path / "val.parquet").equals(val)


def test_split_files_streams_the_same_split_as_in_memory(tmp_path):
    sessions = [
        ("u", 0, 1, ["a", "b"]), ("u", 1, 2, ["b", "c"]), ("u", 2, 3, ["c"]), ("u", 3, 11, ["a", "z"]),
        ("v", 4, 1, ["d", "e"]), ("v", 5, 4, ["e", "f"]), ("v", 6, 12, ["d", "d"]), ("w", 7, 11, ["a", "b"]),
    ]
    params = {"cutoff": CUTOFF, "train_sessions": 2, "test_sessions": 1, "min_session_songs": 2}
    log(sessions).write_parquet(tmp_path / "sessionized.parquet")
    counts = split_files(tmp_path / "sessionized.parquet", tmp_path / "train.parquet", tmp_path / "test.parquet", **params)
    expected = split(sessions)
    assert counts == expected.counts
    assert counts["test_events_dropped_cold_start"] == 1  # song z never occurs in train
    assert pl.read_parquet(tmp_path / "train.parquet").equals(expected.train)
    assert pl.read_parquet(tmp_path / "test.parquet").equals(expected.test)
    assert table1({"train": pl.scan_parquet(tmp_path / "train.parquet")}).row(0) == ("train", 8, 2, 6, 4)
