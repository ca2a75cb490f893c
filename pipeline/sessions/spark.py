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
from pipeline.engines.spark_session import plain_schema, row_order, write_parquet
from pipeline.io import atomic_path, write_json
from pipeline.sessions.splits import SplitParams, parse_cutoff


def sessions(spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None, *,
             session_gap_minutes: float = defaults.SESSION_GAP_MINUTES,
             split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE) -> dict:
    if session_gap_minutes <= 0:
        raise ValueError(f"session_gap_minutes must be positive, got {session_gap_minutes}")
    raw_path = upstream["raw_events"]["events"]
    raw_schema = plain_schema(pq.read_schema(raw_path))
    events = row_order(spark.read.parquet(str(raw_path)))
    missing = events.filter(F.col("user_id").isNull()).count()
    if missing:
        raise ValueError(f"{raw_path}: {missing:,} events have no user_id")
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
    per_user = flagged.groupBy("user_id").agg((F.max("_within") + 1).alias("n")).orderBy("user_id").toPandas()
    per_user["_first"] = per_user["n"].cumsum() - per_user["n"]
    offsets = spark.createDataFrame(per_user[["user_id", "_first"]])
    sessionized = (flagged.join(F.broadcast(offsets), "user_id")
                   .withColumn("session_id", F.col("_first") + F.col("_within"))
                   .orderBy("user_id", "timestamp", "_order").cache())
    n_events = write_parquet(sessionized.select(*raw_schema.names, "session_id"), out["events"],
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
    write_parquet(table, out["sessions"], pa.schema([
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
    schema = plain_schema(pq.read_schema(path))
    events = row_order(spark.read.parquet(str(path)))
    sessions = events.groupBy("session_id").agg(
        F.min("user_id").alias("user_id"), F.min("timestamp").alias("start"), F.max("timestamp").alias("end"),
        F.count(F.lit(1)).alias("n_songs")).cache()
    counts = {"events_in": events.count(), "sessions_in": sessions.count()}
    long_enough = sessions.filter(F.col("n_songs") >= p.min_session_songs)
    n_long = long_enough.count()
    counts["sessions_dropped_short"] = counts["sessions_in"] - n_long
    before, after = long_enough.filter(F.col("end") < F.lit(cut)), long_enough.filter(F.col("start") >= F.lit(cut))
    counts["sessions_dropped_straddling_cutoff"] = n_long - before.count() - after.count()
    train_ids = _first_per_user(before, p.train_sessions, latest=True).cache()
    train_users = train_ids.select("user_id").distinct()
    test_ids = _first_per_user(after.join(train_users, "user_id", "left_semi"), p.test_sessions, latest=False).cache()
    counts["users_in"] = sessions.select("user_id").distinct().count()
    n_train_users = train_users.count()
    counts["users_without_enough_train_sessions"] = counts["users_in"] - n_train_users
    counts["train_users_without_enough_test_sessions"] = n_train_users - test_ids.select("user_id").distinct().count()

    train = events.join(F.broadcast(train_ids.select("session_id")), "session_id", "left_semi").orderBy("_order")
    test_all = events.join(F.broadcast(test_ids.select("session_id")), "session_id", "left_semi")
    test = test_all.join(train.select("song_id").distinct(), "song_id", "left_semi").orderBy("_order")
    write_parquet(train.select(*schema.names), out["train"], schema)
    write_parquet(test.select(*schema.names), out["test"], schema)
    kept = spark.read.parquet(str(out["test"]))
    before_cold = test_all.agg(F.count(F.lit(1)), F.countDistinct("session_id")).first()
    after_cold = kept.agg(F.count(F.lit(1)), F.countDistinct("session_id")).first()
    counts["test_events_dropped_cold_start"] = before_cold[0] - after_cold[0]
    counts["test_sessions_emptied_by_cold_start"] = before_cold[1] - after_cold[1]
    table1 = [{"set": name, **_table1_row(spark.read.parquet(str(out[name])))} for name in ("train", "test")]
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
