"""A Spark session configured as every stage expects, and Spark output written as the contract's single files."""

from __future__ import annotations

import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline.io import atomic_path, staged_folder

# SQL settings the stages' results depend on: timestamps stay UTC microseconds, as the canonical schema has them.
SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
# Defaults for a session this project starts itself (tests, benchmarks); spark-submit's --conf wins over them.
SESSION_CONF = {
    **SQL_CONF,
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "WARN",
    "spark.python.worker.reuse": "true",  # the walk tasks keep the graph loaded between tasks
}


def spark_env(master: str = "", base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a Spark driver or daemon: its Python workers run this interpreter (the project's
    environment), and on one machine (``local[...]`` or a loopback master) Spark binds to 127.0.0.1."""
    env = {**(os.environ if base is None else base), "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    if not master or master.startswith("local") or "127.0.0.1" in master or "localhost" in master:
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def shuffle_partitions(inputs, cores: int | None = None) -> int:
    """``spark.sql.shuffle.partitions`` for a stage reading ``inputs`` (files and folders): one partition per 64 MB
    of them, at least two per core (Spark's default of 200 makes a small stage's every shuffle 200 tasks)."""
    size = sum(p.stat().st_size for path in map(Path, inputs)
               for p in ([path] if path.is_file() else path.rglob("*") if path.is_dir() else []) if p.is_file())
    return max(2 * (cores or os.cpu_count() or 1), math.ceil(size / 64e6))


def stage_inputs(upstream: Mapping, params: Mapping) -> list[Path]:
    """What a stage reads: its upstream stages' folders and, for an import, the log's files (``path``, a glob)."""
    from pipeline.ingest.importers import resolve_files

    return [Path(f.folder) for f in upstream.values()] + (resolve_files(str(params["path"])) if "path" in params else [])


def stage_partitions(upstream: Mapping, params: Mapping) -> dict[str, str]:
    """The shuffle partitions of a stage's Spark application, from the size of what it reads (``shuffle_partitions``)."""
    return {"spark.sql.shuffle.partitions": str(shuffle_partitions(stage_inputs(upstream, params)))}


def configure(spark: SparkSession) -> SparkSession:
    for key, value in SQL_CONF.items():
        spark.conf.set(key, value)
    return spark


def spark_session(master: str, app_name: str = "latent-listening", conf: Mapping[str, str] | None = None) -> SparkSession:
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    return configure(builder.getOrCreate())


def row_order(frame: DataFrame) -> DataFrame:
    """``frame`` read from one Parquet file or a dataset of parts, with ``_order``: each row's position in the table
    (its part's name, then its row within the part), which sorts as the rows run."""
    return frame.withColumn("_order", F.struct(F.col("_metadata.file_name").alias("part"),
                                               F.col("_metadata.row_index").alias("row")))


def write_dataset(frame: DataFrame, target: Path | str, schema: pa.Schema) -> int:
    """Write ``frame`` as the Parquet dataset ``target`` (a contract ``dataset``): each task writes its partition as the
    part ``part-<partition>.parquet`` with ``schema``'s columns and types (unsigned and nullable as the local engine
    writes them, which Spark's own writer cannot), so nothing passes through the driver; parts sort as the frame's
    partitions run. The folder appears whole or not at all. Returns the rows written."""
    names = schema.names

    def write_part(batches, folder: str):
        import os

        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyspark import TaskContext

        path, rows, writer = f"{folder}/part-{TaskContext.get().partitionId():05d}.parquet", 0, None
        try:
            for batch in batches:
                table = pa.Table.from_batches([batch]).select(names).cast(schema)
                writer = writer or pq.ParquetWriter(f"{path}.{os.getpid()}.tmp", schema)
                writer.write_table(table)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is not None:
            os.replace(f"{path}.{os.getpid()}.tmp", path)  # a retried task replaces its part whole
        yield pa.RecordBatch.from_pydict({"rows": [rows]}, schema=pa.schema([("rows", pa.int64())]))

    with staged_folder(target) as staging:
        rows = frame.select(*names).mapInArrow(lambda batches: write_part(batches, str(staging)), "rows long") \
                    .agg(F.sum("rows")).first()[0] or 0
        for leftover in staging.glob("*.tmp"):  # a task attempt that failed midway
            leftover.unlink()
        if not any(staging.glob("part-*.parquet")):  # an empty table still has its schema
            pq.write_table(schema.empty_table(), staging / "part-00000.parquet")
    return int(rows)


def write_parquet(frame: DataFrame, target: Path | str, schema: pa.Schema | None = None) -> int:
    """Write ``frame`` (in its partition order) as the one Parquet file ``target``, its columns cast to ``schema``.

    Spark writes a folder of part files; they are streamed, in part order, into one file (a row group a part batch),
    so downstream stages read the same file whichever engine wrote it. Returns the rows written."""
    target = Path(target)
    parts_dir = target.with_name(f".{target.name}.spark-parts")
    shutil.rmtree(parts_dir, ignore_errors=True)
    frame.write.parquet(str(parts_dir))
    parts = sorted(parts_dir.glob("part-*.parquet"), key=lambda p: int(p.name.split("-")[1]))  # part-00000-<uuid>…
    rows = 0
    try:
        with atomic_path(target) as tmp:
            schema = schema or plain_schema(pq.read_schema(parts[0]))
            with pq.ParquetWriter(tmp, schema) as writer:
                for part in parts:
                    for batch in pq.ParquetFile(part).iter_batches(batch_size=1 << 20):
                        table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
                        writer.write_table(table)
                        rows += table.num_rows
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    return rows


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """A part's schema without Spark's metadata, its fields nullable (as polars writes them)."""
    return pa.schema([pa.field(f.name, f.type, nullable=True) for f in schema])


def arrow_schema(schema: Mapping[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema of a contract table (``File.schema``), as the local engine's polars writes it."""
    return plain_schema(pl.DataFrame(schema=dict(schema)).to_arrow().schema)


WAIT_NOTICE_EVERY = 15.0  # seconds between two "waiting for executors" lines


def executors(spark: SparkSession) -> int:
    """The executors registered with the application (the driver not counted)."""
    return max(len(spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()) - 1, 0)


def waiting_notice(master: str, waited: float, executors_now: int) -> str | None:
    """What to say while an application on a cluster has no executor yet (none on a ``local`` master, whose driver
    runs the tasks itself)."""
    if master.startswith("local") or executors_now > 0:
        return None
    return (f"waiting for executors for {waited:.0f} s: the cluster at {master} has no free cores for this application "
            "(another application may hold them: cap each with the engine's spark.cores_per_stage, spark.cores.max)")


def say_while_waiting(spark: SparkSession, log, every: float = WAIT_NOTICE_EVERY) -> threading.Event:
    """Log ``waiting_notice`` every ``every`` seconds until the application has an executor or the returned event is
    set (when the stage ends)."""
    stop, master, start = threading.Event(), spark.sparkContext.master, time.monotonic()

    def watch() -> None:
        while not stop.wait(every):
            notice = waiting_notice(master, time.monotonic() - start, executors(spark))
            if notice is None:
                return
            log(notice)

    threading.Thread(target=watch, name="waiting-for-executors", daemon=True).start()
    return stop


def application(spark: SparkSession) -> dict:
    """Where to find a stage's application: its id, its UI (while it runs), the folder its event log goes to (for the
    history server: the log's name there holds the id) when event logging is on, and its cores cap."""
    context, conf = spark.sparkContext, spark.sparkContext.getConf()
    logged = conf.get("spark.eventLog.enabled", "false").lower() == "true"
    return {"application": context.applicationId, "ui": context.uiWebUrl or "",
            "event_log": conf.get("spark.eventLog.dir", "").removeprefix("file://") if logged else "",
            "cores_max": conf.get("spark.cores.max", "")}
