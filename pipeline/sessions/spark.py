"""Sessions and the real-life split on Spark: the rules of ``pipeline.sessions.sessions`` and ``pipeline.sessions.splits``, the same
files out (rows, order and types).

Ties are broken as the local engine breaks them: events of a user at the same time keep their order in the input
file (``_order``, the Parquet row index), sessions of a user starting at the same time rank by session id.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from pipeline import defaults
from pipeline.contract import Log, StageFiles, Upstream
from pipeline.engines.spark_session import plain_schema, row_order, write_dataset
from pipeline.io import atomic_path, parquet_parts, write_json
from pipeline.sessions.splits import SplitParams, parse_cutoff


def sessions(spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None, *,
             session_gap_minutes: float = defaults.SESSION_GAP_MINUTES,
             split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE) -> dict:
    if session_gap_minutes <= 0:
        raise ValueError(f"session_gap_minutes must be positive, got {session_gap_minutes}")
    raw_path = upstream["raw_events"]["events"]
    raw_schema = plain_schema(pq.read_schema(parquet_parts(raw_path)[0]))
    events = row_order(spark.read.parquet(str(raw_path)))
    by_time = Window.partitionBy("user_id").orderBy("timestamp", "_order")
    gap = int(round(session_gap_minutes * 60e6))
    previous = F.lag("timestamp").over(by_time)
    new = previous.isNull() | ((F.unix_micros("timestamp") - F.unix_micros(previous)) >= gap)
    if split_on_device_change:
        device = F.coalesce(F.col("device"), F.lit(""))
        new = new | (device != F.lag(device).over(by_time))
    flagged = events.withColumn("_within", F.sum(F.coalesce(new, F.lit(True)).cast("long")).over(
        by_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)) - 1).cache()
    # Session ids run 0, 1, ... in user then time order: each user's first id is the sessions of the users before.
    per_user = flagged.groupBy("user_id").agg((F.max("_within") + 1).alias("n"), F.count(F.lit(1)).alias("events")) \
                      .orderBy("user_id").toPandas()  # (one row a user: the events without a user are its null row)
    if per_user["user_id"].isna().any():
        flagged.unpersist()
        raise ValueError(f"{raw_path}: {int(per_user.loc[per_user['user_id'].isna(), 'events'].sum()):,} events have no user_id")
    per_user["_first"] = per_user["n"].cumsum() - per_user["n"]
    offsets = spark.createDataFrame(per_user[["user_id", "_first"]])
    sessionized = (flagged.join(F.broadcast(offsets), "user_id")
                   .withColumn("session_id", F.col("_first") + F.col("_within"))
                   .orderBy("user_id", "timestamp", "_order").cache())
    n_events = write_dataset(sessionized.select(*raw_schema.names, "session_id"), out["events"],
                             raw_schema.append(pa.field("session_id", pa.int64())))
    if log:
        log(f"sessionized {n_events:,} events into {int(per_user['n'].sum()):,} sessions on Spark")
    table = sessionized.groupBy("session_id").agg(
        F.min("user_id").alias("user_id"),
        F.min_by("device", F.struct("timestamp", "_order")).alias("device"),
        F.min("timestamp").alias("start"),
        F.max("timestamp").alias("end"),
        F.count(F.lit(1)).alias("n_songs"),
    ).orderBy("session_id")
    kinds = {f.name: f.type for f in raw_schema}
    write_dataset(table, out["sessions"], pa.schema([
        ("session_id", pa.int64()), ("user_id", kinds["user_id"]), ("device", kinds["device"]),
        ("start", kinds["timestamp"]), ("end", kinds["timestamp"]), ("n_songs", pa.uint32())]))
    counts = {"events": n_events, "sessions": int(per_user["n"].sum()), "partitions": sessionized.rdd.getNumPartitions()}
    flagged.unpersist()
    sessionized.unpersist()
    return counts


def splits(spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None, **params) -> dict:
    """Steps 1-5 of ``pipeline.sessions.splits`` with its counts, Table 1 and the train and test files."""
    p = SplitParams(**params)
    if p.train_sessions < 1 or p.test_sessions < 1:
        raise ValueError("train_sessions and test_sessions must be at least 1")
    cut = parse_cutoff(p.cutoff)
    path = upstream["sessions"]["events"]
    schema = plain_schema(pq.read_schema(parquet_parts(path)[0]))
    events = row_order(spark.read.parquet(str(path)))
    sessions = events.groupBy("session_id").agg(
        F.min("user_id").alias("user_id"), F.min("timestamp").alias("start"), F.max("timestamp").alias("end"),
        F.count(F.lit(1)).alias("n_songs")).cache()
    long_enough = F.col("n_songs") >= p.min_session_songs
    is_before, is_after = long_enough & (F.col("end") < F.lit(cut)), long_enough & (F.col("start") >= F.lit(cut))
    seen = sessions.agg(F.sum("n_songs").alias("events"), F.count(F.lit(1)).alias("sessions"), F.countDistinct("user_id").alias("users"),
                        *[F.sum(rule.cast("long")).alias(name) for name, rule in
                          (("long", long_enough), ("before", is_before), ("after", is_after))]).first()  # one pass for every count
    counts = {"events_in": int(seen["events"] or 0), "sessions_in": int(seen["sessions"]),
              "sessions_dropped_short": int(seen["sessions"]) - int(seen["long"] or 0),
              "sessions_dropped_straddling_cutoff": int(seen["long"] or 0) - int(seen["before"] or 0) - int(seen["after"] or 0)}
    train_ids = _first_per_user(sessions.filter(is_before), p.train_sessions, latest=True).cache()
    train_users = train_ids.select("user_id").distinct()
    test_ids = _first_per_user(sessions.filter(is_after).join(train_users, "user_id", "left_semi"), p.test_sessions,
                               latest=False).cache()
    counts["users_in"] = int(seen["users"])
    n_train_users = train_users.count()
    counts["users_without_enough_train_sessions"] = counts["users_in"] - n_train_users
    counts["train_users_without_enough_test_sessions"] = n_train_users - test_ids.select("user_id").distinct().count()

    train = events.join(F.broadcast(train_ids.select("session_id")), "session_id", "left_semi").orderBy("_order")
    test_all = events.join(F.broadcast(test_ids.select("session_id")), "session_id", "left_semi")
    test = test_all.join(train.select("song_id").distinct(), "song_id", "left_semi").orderBy("_order")
    write_dataset(train.select(*schema.names), out["train"], schema)
    write_dataset(test.select(*schema.names), out["test"], schema)
    before_cold = test_ids.join(sessions, "session_id").agg(F.sum("n_songs"), F.count(F.lit(1))).first()  # (a small table)
    table1 = [{"set": name, **_table1_row(spark.read.parquet(str(out[name])))} for name in ("train", "test")]
    counts["test_events_dropped_cold_start"] = int(before_cold[0] or 0) - table1[1]["events"]
    counts["test_sessions_emptied_by_cold_start"] = int(before_cold[1]) - table1[1]["sessions"]
    with atomic_path(out["table1"]) as tmp:
        pl.DataFrame(table1).write_parquet(tmp)  # two rows: as the local engine writes them
    write_json(out["counts"], counts)
    for frame in (sessions, train_ids, test_ids):
        frame.unpersist()
    if log:
        log(f"split on Spark: {table1[0]['events']:,} train and {table1[1]['events']:,} test events")
    return counts


def _first_per_user(sessions, n: int, latest: bool):
    """Each user's first ``n`` sessions by start (the last ``n`` with ``latest``), for users with at least ``n``."""
    start = F.col("start").desc() if latest else F.col("start").asc()
    ranked = sessions.withColumn("_rank", F.row_number().over(Window.partitionBy("user_id").orderBy(start, "session_id"))) \
                     .withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy("user_id")))
    return ranked.filter((F.col("_n") >= n) & (F.col("_rank") <= n)).select("session_id", "user_id")


def _table1_row(frame) -> dict:
    row = frame.agg(F.count(F.lit(1)).alias("events"), F.countDistinct("user_id").alias("users"),
                    F.countDistinct("song_id").alias("songs"), F.countDistinct("session_id").alias("sessions")).first()
    return {k: int(row[k]) for k in ("events", "users", "songs", "sessions")}
