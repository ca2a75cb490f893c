"""Cut a listening log into sessions (paper, Section 3.1).

A user's events are ordered by time (ties keep their input order). A new session starts at a
user's first event, when the gap to the user's previous event is ``session_gap_minutes`` or
more (the paper keeps neighbours "shorter than 10 minutes" apart together), or, with
``split_on_device_change``, when the device differs from the previous event's. A missing device
never counts as a change, so logs without devices are cut by the time gap alone.
"""

from __future__ import annotations

import polars as pl

from pipeline import defaults


def sessionize(
    events: pl.LazyFrame | pl.DataFrame,
    session_gap_minutes: float = defaults.SESSION_GAP_MINUTES,
    split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE,
) -> pl.LazyFrame:
    """Add ``session_id`` (0, 1, ... in user then time order) to every event.

    Needs columns ``timestamp``, ``user_id`` and ``device`` (may be null). Returns the events
    sorted by user, time and input order, each in exactly one session.
    """
    if session_gap_minutes <= 0:
        raise ValueError(f"session_gap_minutes must be positive, got {session_gap_minutes}")
    gap = pl.duration(microseconds=int(round(session_gap_minutes * 60e6)))
    device = pl.col("device").fill_null("")
    new_session = (
        (pl.col("user_id") != pl.col("user_id").shift(1))
        | pl.col("user_id").shift(1).is_null()
        | ((pl.col("timestamp") - pl.col("timestamp").shift(1)) >= gap)
    )
    if split_on_device_change:
        new_session = new_session | (device != device.shift(1))
    return (
        events.lazy()
        .with_row_index("_input_order")
        .sort(["user_id", "timestamp", "_input_order"])
        .with_columns((new_session.fill_null(True).cast(pl.Int64).cum_sum() - 1).alias("session_id"))
        .drop("_input_order")
    )


def session_table(sessionized: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """One row a session: user, device, first and last event time, and its number of songs (events)."""
    return (
        sessionized.lazy()
        .group_by("session_id")
        .agg(
            pl.col("user_id").first(),
            pl.col("device").first(),
            pl.col("timestamp").min().alias("start"),
            pl.col("timestamp").max().alias("end"),
            pl.len().alias("n_songs"),
        )
        .sort("session_id")
    )


def rule_violations(
    sessionized: pl.DataFrame,
    session_gap_minutes: float = defaults.SESSION_GAP_MINUTES,
    split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE,
) -> dict[str, int]:
    """Count breaches of the session rule in sessionized events (sorted as ``sessionize`` returns).

    ``gap_inside``: neighbours in one session ``gap`` or more apart; ``device_inside``: a device
    change inside a session; ``merged``: neighbours of one user in different sessions that the rule
    would have kept together; ``user_inside``: a session with two users.
    """
    gap = pl.duration(microseconds=int(round(session_gap_minutes * 60e6)))
    device = pl.col("device").fill_null("")
    same_session = pl.col("session_id") == pl.col("session_id").shift(1)
    same_user = pl.col("user_id") == pl.col("user_id").shift(1)
    dt = pl.col("timestamp") - pl.col("timestamp").shift(1)
    device_changed = (device != device.shift(1)) if split_on_device_change else pl.lit(False)
    counts = sessionized.select(
        (same_session & (dt >= gap)).sum().alias("gap_inside"),
        (same_session & device_changed).sum().alias("device_inside"),
        (same_session & ~same_user).sum().alias("user_inside"),
        (~same_session & same_user & (dt < gap) & ~device_changed).sum().alias("merged"),
    )
    return {k: int(v or 0) for k, v in counts.row(0, named=True).items()}
