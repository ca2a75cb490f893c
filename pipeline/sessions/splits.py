"""The paper's real-life split by a cutoff date (Section 4.1), and its Table 1.

In order:
1. sessions with fewer than ``min_session_songs`` songs are dropped;
2. a session lies before the cutoff when its last event does, after it when its first event does;
   the few sessions that straddle the cutoff belong to neither side and are dropped (counted);
3. train: each user's last ``train_sessions`` sessions before the cutoff; a user with fewer is
   left out of train;
4. test: each train user's first ``test_sessions`` sessions after the cutoff; a user with fewer
   (or not in train) is left out of test;
5. test events whose song never occurs in train are dropped (cold-start songs); test sessions
   left empty disappear.
Every drop is counted in the counts ``split_files`` returns. Events stream from file to files: only
one row a session is held in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from pipeline import defaults
from pipeline.contract import Log, StageFiles, Upstream
from pipeline.io import atomic_path, read_json, write_json


def parse_cutoff(cutoff: str | datetime) -> datetime:
    """An ISO date or datetime; naive values are taken as UTC."""
    if isinstance(cutoff, str):
        try:
            cutoff = datetime.fromisoformat(cutoff)
        except ValueError as exc:
            raise ValueError(f"cutoff {cutoff!r} is not an ISO date such as 2016-06-01") from exc
    return cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=timezone.utc)


def table1(sets: dict[str, pl.LazyFrame | pl.DataFrame]) -> pl.DataFrame:
    """The paper's Table 1: events, users, songs (and sessions) of each set (streamed from files)."""
    rows = []
    for name, frame in sets.items():
        counts = frame.lazy().select(
            pl.len().alias("events"),
            pl.col("user_id").n_unique().alias("users"),
            pl.col("song_id").n_unique().alias("songs"),
            pl.col("session_id").n_unique().alias("sessions"),
        ).collect(engine="streaming")
        rows.append({"set": name, **{k: int(v) for k, v in counts.row(0, named=True).items()}})
    return pl.DataFrame(rows)


@dataclass(frozen=True)
class SplitParams:
    """The real-life split's settings (the ``splits`` asset's config is made from these fields)."""

    cutoff: str = defaults.CUTOFF
    train_sessions: int = defaults.TRAIN_SESSIONS
    test_sessions: int = defaults.TEST_SESSIONS
    min_session_songs: int = defaults.MIN_SESSION_SONGS


def select_sessions(events: pl.LazyFrame, params: SplitParams) -> tuple[pl.Series, pl.Series, dict[str, int]]:
    """Steps 1-4 on one row a session: the train and test session ids, and the counts of drops."""
    cutoff, train_sessions, test_sessions, min_session_songs = (params.cutoff, params.train_sessions, params.test_sessions,
                                                                params.min_session_songs)
    if train_sessions < 1 or test_sessions < 1:
        raise ValueError("train_sessions and test_sessions must be at least 1")
    cut = parse_cutoff(cutoff)
    sessions = (
        events.group_by("session_id")
        .agg(
            pl.col("user_id").first(),
            pl.col("timestamp").min().alias("start"),
            pl.col("timestamp").max().alias("end"),
            pl.len().alias("n_songs"),
        )
        .collect(engine="streaming")
        .sort("session_id")  # sessions of a user starting at the same time rank by id, on every engine and run
    )
    counts = {"events_in": int(sessions["n_songs"].sum()), "sessions_in": sessions.height}
    long_enough = sessions.filter(pl.col("n_songs") >= min_session_songs)
    counts["sessions_dropped_short"] = sessions.height - long_enough.height

    before = long_enough.filter(pl.col("end") < cut)
    after = long_enough.filter(pl.col("start") >= cut)
    counts["sessions_dropped_straddling_cutoff"] = long_enough.height - before.height - after.height

    train = (
        before.with_columns(
            pl.col("start").rank("ordinal", descending=True).over("user_id").alias("_rank"),
            pl.len().over("user_id").alias("_n"),
        )
        .filter((pl.col("_n") >= train_sessions) & (pl.col("_rank") <= train_sessions))
        .select("session_id", "user_id")
    )
    train_users = train["user_id"].unique()
    test = (
        after.filter(pl.col("user_id").is_in(train_users.implode()))
        .with_columns(
            pl.col("start").rank("ordinal").over("user_id").alias("_rank"),
            pl.len().over("user_id").alias("_n"),
        )
        .filter((pl.col("_n") >= test_sessions) & (pl.col("_rank") <= test_sessions))
        .select("session_id", "user_id")
    )
    counts["users_in"] = sessions["user_id"].n_unique()
    counts["users_without_enough_train_sessions"] = counts["users_in"] - train_users.len()
    counts["train_users_without_enough_test_sessions"] = train_users.len() - test["user_id"].n_unique()
    return train["session_id"].sort(), test["session_id"].sort(), counts


def split_files(
    sessionized_path: Path | str,
    train_path: Path | str,
    test_path: Path | str,
    params: SplitParams = SplitParams(),
) -> dict[str, int]:
    """Steps 1-5 from the sessionized events (columns timestamp, user_id, session_id, song_id, ...)
    to the train and test files, for logs larger than memory.

    Only one row a session is held in memory; the events stream through filters, in the sessionized
    order (user, time). Returns the counts.
    """
    events = pl.scan_parquet(sessionized_path)
    train_ids, test_ids, counts = select_sessions(events, params)
    with atomic_path(train_path) as tmp:
        events.filter(pl.col("session_id").is_in(train_ids.implode())).sink_parquet(tmp)
    train_songs = pl.scan_parquet(train_path).select(pl.col("song_id").unique()).collect(engine="streaming")["song_id"]
    test_all = events.filter(pl.col("session_id").is_in(test_ids.implode()))
    with atomic_path(test_path) as tmp:
        test_all.filter(pl.col("song_id").is_in(train_songs.implode())).sink_parquet(tmp)
    before = test_all.select(pl.len(), pl.col("session_id").n_unique()).collect(engine="streaming").row(0)
    after = pl.scan_parquet(test_path).select(pl.len(), pl.col("session_id").n_unique()).collect(engine="streaming").row(0)
    counts["test_events_dropped_cold_start"] = before[0] - after[0]
    counts["test_sessions_emptied_by_cold_start"] = before[1] - after[1]
    return counts


def _validation_ids(train: pl.LazyFrame, validation_sessions: int) -> tuple[pl.Series, int]:
    """Each user's last ``validation_sessions`` train sessions (users with more than that), and how many users have too few."""
    if validation_sessions < 1:
        raise ValueError("validation_sessions must be at least 1")
    ranked = (
        train.group_by("session_id")
        .agg(pl.col("user_id").first(), pl.col("timestamp").min().alias("start"))
        .collect(engine="streaming")
        .sort("session_id")  # ties in start rank by id
        .with_columns(
            pl.col("start").rank("ordinal", descending=True).over("user_id").alias("_rank"),
            pl.len().over("user_id").alias("_n"),
        )
    )
    too_few = ranked.filter(pl.col("_n") <= validation_sessions)["user_id"].n_unique()
    if too_few == ranked["user_id"].n_unique():
        raise ValueError(f"no user has more than {validation_sessions} train sessions to leave for validation")
    ids = ranked.filter((pl.col("_rank") <= validation_sessions) & (pl.col("_n") > validation_sessions))["session_id"].sort()
    return ids, too_few


def validation_split_files(train_path: Path | str, fit_path: Path | str, val_path: Path | str,
                           validation_sessions: int) -> dict:
    """Carve validation out of train the same real-life way: each user's last ``validation_sessions``
    train sessions validate, the earlier ones fit. Validation events whose song never occurs in the
    fit part are dropped (counted), as cold-start test events are. Streamed from file to files (one
    row a session in memory)."""
    train = pl.scan_parquet(train_path)
    val_ids, too_few = _validation_ids(train, validation_sessions)
    in_val = pl.col("session_id").is_in(val_ids.implode())
    with atomic_path(fit_path) as tmp:
        train.filter(~in_val).sink_parquet(tmp)
    fit_songs = pl.scan_parquet(fit_path).select(pl.col("song_id").unique()).collect(engine="streaming")["song_id"]
    with atomic_path(val_path) as tmp:
        train.filter(in_val & pl.col("song_id").is_in(fit_songs.implode())).sink_parquet(tmp)
    fit_events = pl.scan_parquet(fit_path).select(pl.len()).collect().item()
    val_events, val_sessions = pl.scan_parquet(val_path).select(pl.len(), pl.col("session_id").n_unique()).collect(engine="streaming").row(0)
    all_val = train.filter(in_val).select(pl.len()).collect(engine="streaming").item()
    return {
        "fit_events": fit_events,
        "validation_events": val_events,
        "validation_sessions": val_sessions,
        "validation_events_dropped_cold_start": all_val - val_events,
        "users_too_short_to_validate": too_few,
    }


def validation_split(upstream: Mapping[str, StageFiles], out: StageFiles, log=None) -> dict:
    """The ``validation_split`` stage: each user's last ``validation_sessions`` train sessions (the run's plan, in the
    splits stage's chosen.json) validate, the earlier ones fit; returns the counts and that number."""
    sessions = read_json(upstream["splits"]["chosen"])["validation_sessions"]
    return {"validation_sessions": sessions, **validation_split_files(upstream["splits"]["train"], out["fit"], out["validation"], sessions)}


class EmptySplit(ValueError):
    """A split that left no train or no test event."""


def table1_rows(splits: StageFiles) -> list[dict]:
    """Table 1 (set, events, users, songs, sessions), a dict a row; raises ``EmptySplit`` when a set has no event."""
    rows = pl.read_parquet(splits["table1"]).to_dicts()
    if min(r["events"] for r in rows) == 0:
        raise EmptySplit(f"the split left {rows[0]['events']} train and {rows[1]['events']} test events")
    return rows


def splits(upstream: Upstream, out: StageFiles, log: Log = None, **params) -> dict:
    """The ``splits`` stage: train, test, Table 1 and the counts of what the split dropped (``params``: the fields of
    ``SplitParams``)."""
    counts = split_files(upstream["sessions"]["events"], out["train"], out["test"], SplitParams(**params))
    with atomic_path(out["table1"]) as tmp:
        table1({"train": pl.scan_parquet(out["train"]), "test": pl.scan_parquet(out["test"])}).write_parquet(tmp)
    write_json(out["counts"], counts)
    return counts
