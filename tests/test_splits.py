import tempfile
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest
from helpers import T0

from pipeline.sessions.splits import SplitParams, parse_cutoff, split_files, table1, validation_split_files

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


class Split(NamedTuple):
    train: pl.DataFrame
    test: pl.DataFrame
    counts: dict

    def table1(self) -> pl.DataFrame:
        return table1({"train": self.train, "test": self.test})


def split_frame(events: pl.DataFrame, **params) -> Split:
    """``split_files`` on in-memory events, through a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        events.write_parquet(Path(tmp) / "in.parquet")
        counts = split_files(Path(tmp) / "in.parquet", Path(tmp) / "train.parquet", Path(tmp) / "test.parquet", SplitParams(**params))
        return Split(pl.read_parquet(Path(tmp) / "train.parquet"), pl.read_parquet(Path(tmp) / "test.parquet"), counts)


def split(sessions, **kw) -> Split:
    params = {"cutoff": CUTOFF, "train_sessions": 2, "test_sessions": 1, "min_session_songs": 2} | kw
    return split_frame(log(sessions), **params)


def sessions_by_user(events: pl.DataFrame) -> dict[str, list[dict]]:
    """Each user's sessions (id, start, end, songs), by start time."""
    sessions = {}
    for r in events.iter_rows(named=True):
        s = sessions.setdefault(r["session_id"], {"id": r["session_id"], "user": r["user_id"], "start": r["timestamp"],
                                                  "end": r["timestamp"], "n": 0})
        s["start"], s["end"], s["n"] = min(s["start"], r["timestamp"]), max(s["end"], r["timestamp"]), s["n"] + 1
    users = defaultdict(list)
    for s in sessions.values():
        users[s["user"]].append(s)
    return {u: sorted(ss, key=lambda s: s["start"]) for u, ss in users.items()}


def oracle_split(events: pl.DataFrame, cutoff, train_sessions, test_sessions, min_session_songs) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The real-life split written out plainly from its definition (the module docstring of pipeline.sessions.splits)."""
    cut = parse_cutoff(cutoff)
    train_ids, test_ids = set(), set()
    for sessions in sessions_by_user(events).values():
        kept = [s for s in sessions if s["n"] >= min_session_songs]
        before = [s["id"] for s in kept if s["end"] < cut]
        after = [s["id"] for s in kept if s["start"] >= cut]
        if len(before) >= train_sessions:
            train_ids |= set(before[-train_sessions:])
            if len(after) >= test_sessions:
                test_ids |= set(after[:test_sessions])
    train = events.filter(pl.col("session_id").is_in(sorted(train_ids)))
    songs = sorted(set(train["song_id"]))
    return train, events.filter(pl.col("session_id").is_in(sorted(test_ids)) & pl.col("song_id").is_in(songs))


def oracle_validation(train: pl.DataFrame, validation_sessions: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each user with more than ``validation_sessions`` train sessions validates on their last ones."""
    ids = {s["id"] for ss in sessions_by_user(train).values() if len(ss) > validation_sessions for s in ss[-validation_sessions:]}
    in_val = pl.col("session_id").is_in(sorted(ids))
    fit = train.filter(~in_val)
    return fit, train.filter(in_val & pl.col("song_id").is_in(sorted(set(fit["song_id"]))))


def validation(train: pl.DataFrame, validation_sessions: int) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """``validation_split_files`` on in-memory train events, through a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        train.write_parquet(d / "train.parquet")
        counts = validation_split_files(d / "train.parquet", d / "fit.parquet", d / "val.parquet", validation_sessions)
        return pl.read_parquet(d / "fit.parquet"), pl.read_parquet(d / "val.parquet"), counts


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
    result = split_frame(pl.concat([rows, straddle]), cutoff=CUTOFF, train_sessions=2, test_sessions=1, min_session_songs=2)
    assert result.counts["sessions_dropped_straddling_cutoff"] == 1
    assert 2 not in result.train["session_id"].to_list() + result.test["session_id"].to_list()


def test_bad_cutoff_is_named():
    with pytest.raises(ValueError, match="not an ISO date"):
        split([("a", 0, 1, ["x", "y"])], cutoff="June first")


def test_validation_takes_each_users_last_train_sessions():
    train = log([
        ("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]), ("a", 2, 3, ["y", "new"]),  # last one validates
        ("b", 3, 1, ["x", "y"]),  # b has too few sessions: all fit, none validate
    ])
    fit, val, counts = validation(train, validation_sessions=1)
    assert sorted(fit["session_id"].unique()) == [0, 1, 3]
    assert val["session_id"].unique().to_list() == [2]
    assert val["song_id"].to_list() == ["y"]  # "new" never occurs in fit: dropped like a cold-start test event
    assert counts["validation_events_dropped_cold_start"] == 1 and counts["users_too_short_to_validate"] == 1
    with pytest.raises(ValueError, match="no user"):
        validation(train, validation_sessions=5)


def test_validation_split_files_streams_the_split_its_definition_gives():
    train = log([
        ("a", 0, 1, ["x", "y"]), ("a", 1, 2, ["x", "z"]), ("a", 2, 3, ["y", "new"]), ("b", 3, 1, ["x", "y"]),
        ("c", 4, 1, ["x", "z"]), ("c", 5, 2, ["y", "x"]), ("c", 6, 4, ["z", "z"]),
    ])
    fit, val, counts = validation(train, validation_sessions=1)
    expected_fit, expected_val = oracle_validation(train, validation_sessions=1)
    assert counts["fit_events"] == expected_fit.height and counts["validation_events"] == expected_val.height
    assert fit.equals(expected_fit)
    assert val.equals(expected_val)


def test_split_files_streams_the_split_its_definition_gives(tmp_path):
    sessions = [
        ("u", 0, 1, ["a", "b"]), ("u", 1, 2, ["b", "c"]), ("u", 2, 3, ["c"]), ("u", 3, 11, ["a", "z"]),
        ("v", 4, 1, ["d", "e"]), ("v", 5, 4, ["e", "f"]), ("v", 6, 12, ["d", "d"]), ("w", 7, 11, ["a", "b"]),
    ]
    params = {"cutoff": CUTOFF, "train_sessions": 2, "test_sessions": 1, "min_session_songs": 2}
    log(sessions).write_parquet(tmp_path / "sessionized.parquet")
    counts = split_files(tmp_path / "sessionized.parquet", tmp_path / "train.parquet", tmp_path / "test.parquet", SplitParams(**params))
    expected_train, expected_test = oracle_split(log(sessions), **params)
    assert counts["test_events_dropped_cold_start"] == 1  # song z never occurs in train
    assert pl.read_parquet(tmp_path / "train.parquet").equals(expected_train)
    assert pl.read_parquet(tmp_path / "test.parquet").equals(expected_test)
    assert table1({"train": pl.scan_parquet(tmp_path / "train.parquet")}).row(0) == ("train", 8, 2, 6, 4)
