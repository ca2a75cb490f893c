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
Every drop is counted in ``SplitResult.counts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import polars as pl

from pipeline import defaults


def parse_cutoff(cutoff: str | datetime) -> datetime:
    """An ISO date or datetime; naive values are taken as UTC."""
    if isinstance(cutoff, str):
        try:
            cutoff = datetime.fromisoformat(cutoff)
        except ValueError as exc:
            raise ValueError(f"cutoff {cutoff!r} is not an ISO date such as 2016-06-01") from exc
    return cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=timezone.utc)


@dataclass
class SplitResult:
    train: pl.DataFrame  # events with session_id
    test: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    def table1(self) -> pl.DataFrame:
        """The paper's Table 1: events, users, songs (and sessions) of train and test."""
        rows = []
        for name, frame in (("train", self.train), ("test", self.test)):
            rows.append(
                {
                    "set": name,
                    "events": frame.height,
                    "users": frame["user_id"].n_unique(),
                    "songs": frame["song_id"].n_unique(),
                    "sessions": frame["session_id"].n_unique(),
                }
            )
        return pl.DataFrame(rows)


def real_life_split(
    sessionized: pl.LazyFrame | pl.DataFrame,
    cutoff: str | datetime = defaults.CUTOFF,
    train_sessions: int = defaults.TRAIN_SESSIONS,
    test_sessions: int = defaults.TEST_SESSIONS,
    min_session_songs: int = defaults.MIN_SESSION_SONGS,
) -> SplitResult:
    """Split sessionized events (columns timestamp, user_id, session_id, song_id, ...)."""
    if train_sessions < 1 or test_sessions < 1:
        raise ValueError("train_sessions and test_sessions must be at least 1")
    cut = parse_cutoff(cutoff)
    events = sessionized.lazy()
    sessions = (
        events.group_by("session_id")
        .agg(
            pl.col("user_id").first(),
            pl.col("timestamp").min().alias("start"),
            pl.col("timestamp").max().alias("end"),
            pl.len().alias("n_songs"),
        )
        .collect()
    )
    counts = {"events_in": int(events.select(pl.len()).collect().item()), "sessions_in": sessions.height}
    long_enough = sessions.filter(pl.col("n_songs") >= min_session_songs)
    counts["sessions_dropped_short"] = sessions.height - long_enough.height

    before = long_enough.filter(pl.col("end") < cut)
    after = long_enough.filter(pl.col("start") >= cut)
    counts["sessions_dropped_straddling_cutoff"] = long_enough.height - before.height - after.height

    train_sessions_df = (
        before.with_columns(
            pl.col("start").rank("ordinal", descending=True).over("user_id").alias("_rank"),
            pl.len().over("user_id").alias("_n"),
        )
        .filter((pl.col("_n") >= train_sessions) & (pl.col("_rank") <= train_sessions))
        .select("session_id", "user_id")
    )
    train_users = train_sessions_df["user_id"].unique()
    test_sessions_df = (
        after.filter(pl.col("user_id").is_in(train_users.implode()))
        .with_columns(
            pl.col("start").rank("ordinal").over("user_id").alias("_rank"),
            pl.len().over("user_id").alias("_n"),
        )
        .filter((pl.col("_n") >= test_sessions) & (pl.col("_rank") <= test_sessions))
        .select("session_id")
    )
    counts["users_in"] = sessions["user_id"].n_unique()
    counts["users_without_enough_train_sessions"] = counts["users_in"] - train_users.len()
    counts["train_users_without_enough_test_sessions"] = train_users.len() - (
        after.filter(pl.col("session_id").is_in(test_sessions_df["session_id"].implode()))["user_id"].n_unique()
    )

    train = events.join(train_sessions_df.lazy().select("session_id"), on="session_id", how="semi").collect()
    test_all = events.join(test_sessions_df.lazy(), on="session_id", how="semi").collect()
    train_songs = train.select(pl.col("song_id").unique())
    test = test_all.join(train_songs, on="song_id", how="semi")
    counts["test_events_dropped_cold_start"] = test_all.height - test.height
    counts["test_sessions_emptied_by_cold_start"] = test_all["session_id"].n_unique() - test["session_id"].n_unique()
    sort = ["user_id", "timestamp", "session_id"]
    return SplitResult(train=train.sort(sort, maintain_order=True), test=test.sort(sort, maintain_order=True), counts=counts)


def validation_split(train: pl.DataFrame, validation_sessions: int) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Carve validation out of train the same real-life way: each user's last ``validation_sessions``
    train sessions validate, the earlier ones fit. Validation events whose song never occurs in the
    fit part are dropped (counted), as cold-start test events are.
    """
    if validation_sessions < 1:
        raise ValueError("validation_sessions must be at least 1")
    ranked = train.group_by("session_id").agg(pl.col("user_id").first(), pl.col("timestamp").min().alias("start")).with_columns(
        pl.col("start").rank("ordinal", descending=True).over("user_id").alias("_rank"),
        pl.len().over("user_id").alias("_n"),
    )
    too_few = ranked.filter(pl.col("_n") <= validation_sessions)["user_id"].n_unique()
    if too_few == ranked["user_id"].n_unique():
        raise ValueError(f"no user has more than {validation_sessions} train sessions to leave for validation")
    val_ids = ranked.filter((pl.col("_rank") <= validation_sessions) & (pl.col("_n") > validation_sessions)).select("session_id")
    fit = train.join(val_ids, on="session_id", how="anti")
    val_all = train.join(val_ids, on="session_id", how="semi")
    val = val_all.join(fit.select(pl.col("song_id").unique()), on="song_id", how="semi")
    counts = {
        "fit_events": fit.height,
        "validation_events": val.height,
        "validation_sessions": val["session_id"].n_unique(),
        "validation_events_dropped_cold_start": val_all.height - val.height,
        "users_too_short_to_validate": too_few,
    }
    return fit, val, counts
