"""Cut a listening log into sessions (paper, Section 3.1).

A user's events are ordered by time (ties keep their input order). A new session starts at a
user's first event, when the gap to the user's previous event is ``session_gap_minutes`` or
more (the paper keeps neighbours "shorter than 10 minutes" apart together), or, with
``split_on_device_change``, when the device differs from the previous event's. A missing device
never counts as a change, so logs without devices are cut by the time gap alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import polars as pl
import pyarrow.parquet as pq

from pipeline import defaults
from pipeline.contract import Log, StageFiles, Upstream
from pipeline.io import atomic_path, parquet_parts

# Events sorted in memory at a time by ``sessionize_file`` (measured: about 0.35 GB of peak memory
# a million events of the synthetic log, so about 2 GB a chunk).
ROWS_PER_CHUNK = 6_000_000


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
    events = events.lazy()
    if "_input_order" not in events.collect_schema():  # sessionize_file numbers rows before cutting chunks
        events = events.with_row_index("_input_order")
    return (
        events
        .sort(["user_id", "timestamp", "_input_order"])
        .with_columns((new_session.fill_null(True).cast(pl.Int64).cum_sum() - 1).alias("session_id"))
        .drop("_input_order")
    )


def user_chunks(user_counts: pl.DataFrame, rows_per_chunk: int) -> list[tuple[str, str, int]]:
    """Cut users (sorted, with their event counts ``len``) into contiguous ranges of at most
    ``rows_per_chunk`` events each (a user with more gets a range alone). Returns (first, last, rows)."""
    chunks: list[tuple[str, str, int]] = []
    first = last = None
    rows = 0
    for user, n in user_counts.select("user_id", "len").iter_rows():
        if first is not None and rows + n > rows_per_chunk:
            chunks.append((first, last, rows))
            first, rows = None, 0
        if first is None:
            first = user
        last, rows = user, rows + n
    if first is not None:
        chunks.append((first, last, rows))
    return chunks


def sessionize_file(
    events_path: Path | str,
    out_path: Path | str,
    session_gap_minutes: float = defaults.SESSION_GAP_MINUTES,
    split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE,
    rows_per_chunk: int = ROWS_PER_CHUNK,
    log: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """``sessionize`` a Parquet log of any size into ``out_path`` with bounded memory.

    Sessions never cross users, so users are cut into contiguous ranges of about ``rows_per_chunk``
    events; each range is read (Parquet statistics skip the other row groups when the log is grouped
    by user), sorted and cut in memory, and appended with its session ids offset. The output equals
    ``sessionize`` of the whole log, input order included. Returns counts of events, sessions, chunks.
    """
    if rows_per_chunk < 1:
        raise ValueError(f"rows_per_chunk must be positive, got {rows_per_chunk}")
    scan = pl.scan_parquet(events_path)
    users = scan.group_by("user_id").len().sort("user_id").collect(engine="streaming")
    if users["user_id"].null_count():
        raise ValueError(f"{events_path}: {users.filter(pl.col('user_id').is_null())['len'].item():,} events have no user_id")
    chunks = user_chunks(users, rows_per_chunk)
    indexed = scan.with_row_index("_input_order")
    n_events = n_sessions = 0
    with atomic_path(out_path) as tmp:
        writer = None
        try:
            for i, (first, last, rows) in enumerate(chunks):
                part = (
                    sessionize(indexed.filter(pl.col("user_id").is_between(pl.lit(first), pl.lit(last))), session_gap_minutes, split_on_device_change)
                    .with_columns(pl.col("session_id") + n_sessions)
                    .collect()
                )
                if part.height != rows:
                    raise RuntimeError(f"chunk {i} of {events_path}: read {part.height:,} events, expected {rows:,}")
                table = part.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                n_events += part.height
                n_sessions = int(part["session_id"].max()) + 1 if part.height else n_sessions
                if log:
                    log(f"sessionized chunk {i + 1}/{len(chunks)}: {n_events:,} events, {n_sessions:,} sessions")
            if writer is None:  # no events: an empty file with the output's columns
                sessionize(scan.head(0), session_gap_minutes, split_on_device_change).collect().write_parquet(tmp)
        finally:
            if writer is not None:
                writer.close()
    return {"events": n_events, "sessions": n_sessions, "chunks": len(chunks)}


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


def rule_violations_file(
    path: Path | str,
    session_gap_minutes: float = defaults.SESSION_GAP_MINUTES,
    split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE,
    batch_rows: int = 2_000_000,
) -> dict[str, int]:
    """``rule_violations`` of a sessionized Parquet file, read a batch at a time.

    Each batch is checked with the previous batch's last row in front, so the pairs across batch
    borders are counted once and the totals equal the in-memory check's.
    """
    columns = ["timestamp", "user_id", "device", "session_id"]
    totals: dict[str, int] = {}
    previous = None
    batches = (b for part in parquet_parts(path) for b in pq.ParquetFile(part).iter_batches(batch_size=batch_rows, columns=columns))
    for batch in batches:
        frame = pl.from_arrow(batch)
        if previous is not None:
            frame = pl.concat([previous, frame])
        for k, v in rule_violations(frame, session_gap_minutes, split_on_device_change).items():
            totals[k] = totals.get(k, 0) + v
        previous = frame.tail(1)
    return totals or {"gap_inside": 0, "device_inside": 0, "user_inside": 0, "merged": 0}


def session_summary(sessions: StageFiles, raw: StageFiles, split_on_device_change: bool) -> dict:
    """What a sessions stage wrote, for its asset: sessions, events, the median songs a session, how many sessions are
    too short for the split, and which rule cut them (the device rule applies only when the log has devices)."""
    lengths = pl.read_parquet(sessions["sessions"], columns=["n_songs"])["n_songs"]
    has_device = bool(pl.scan_parquet(raw["events"]).select(pl.col("device").is_not_null().any()).collect().item())
    return {"sessions": len(lengths), "events": int(lengths.sum()), "songs per session (median)": float(lengths.median()),
            f"sessions with fewer than {defaults.MIN_SESSION_SONGS} songs": int((lengths < defaults.MIN_SESSION_SONGS).sum()),
            "rule": "time gap and device" if (split_on_device_change and has_device) else "time gap alone (no device in the log)"}


def sessions(upstream: Upstream, out: StageFiles, log: Log = None, *,
             session_gap_minutes: float = defaults.SESSION_GAP_MINUTES,
             split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE) -> dict:
    """The ``sessions`` stage: the raw events cut into sessions (``sessionize_file``) and one row a session."""
    counts = sessionize_file(upstream["raw_events"]["events"], out["events"], session_gap_minutes, split_on_device_change, log=log)
    with atomic_path(out["sessions"]) as tmp:
        session_table(pl.scan_parquet(out["events"])).collect(engine="streaming").write_parquet(tmp)
    return counts
