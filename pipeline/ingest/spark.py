"""The import of a real log on Spark: the events, quarantine and counts of ``pipeline.ingest.importers.import_log``, row for row.

The driver plans the work: each line file (Last.fm TSV, canonical CSV) is cut into ranges of about
``RANGE_BYTES`` of whole records (a TSV at newlines; a CSV where its RFC 4180 records end, which takes one pass of
``pipeline.ingest.line_split`` over the file on the driver, as a quoted field may hold line breaks), after its byte-order mark and header (refused whole, as locally, when it is UTF-16 or ends its
lines with a lone CR); each record file (Spotify JSON, ListenBrainz, canonical Parquet) is one task. A task reads its
range with the local engine's own code (``pipeline.ingest.columnar`` and the per-row rules of ``pipeline.ingest.field_rules``:
no second set of rules), pseudonymises it, and writes its accepted events and refused rows to part files, numbering
records from its range's start, and returns only counts; each range's first row number in its file follows once
every range has said how many records it holds. Exact duplicates (field for field, of an earlier row in file and row
order) are found by a shuffle on the cluster and quarantined as the local engine does. Both tables are datasets the
executors write (the events in input order; the quarantine's refused rows, then the duplicates): only counts reach the
driver.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from pyspark import StorageLevel
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from pipeline.contract import EVENT_SCHEMA, QUARANTINE_SCHEMA, Log, StageFiles
from pipeline.engines.spark_session import arrow_schema, write_dataset
from pipeline.ingest import columnar, field_rules, line_split
from pipeline.ingest.columns import FIELDS
from pipeline.ingest.importers import (
    DUPLICATE,
    ImportReport,
    LogInputError,
    _batches,
    duplicate_raw,
    format_of,
    inputs_of,
    quarantine_duplicates,
    totals,
)
from pipeline.ingest.inputs import LogFile
from pipeline.ingest.log_formats import RAW_LIMIT, WHOLE_FILE, csv_header, whole_file_check
from pipeline.ingest.pseudonyms import WITHHELD, pseudonymised, salt_from, shown_names
from pipeline.ingest.raw_events import import_window
from pipeline.ingest.text_form import NORMALISED, check_text_form, normalised
from pipeline.io import atomic_path

EVENTS, QUARANTINE = arrow_schema(EVENT_SCHEMA), arrow_schema(QUARANTINE_SCHEMA)
RANGE_BYTES = 64 << 20  # the bytes of a line file one task reads (whole lines: a range ends after a newline)
LINE_FORMATS = ("lastfm-1k", "canonical")


@dataclass(frozen=True)
class Task:
    file: int
    block: int
    path: LogFile
    start: int = 0  # a plain line file's bytes [start, end); a record file, or a compressed or archived one, is read whole
    end: int = 0
    header: tuple[str, ...] | None = None  # a canonical CSV's columns and their mapping to the canonical fields
    mapping: tuple[tuple[str, str], ...] | None = None


def _is_line_file(fmt: str, path: LogFile) -> bool:
    """A file read in byte ranges: a line format's, on disk as it is (a compressed stream cannot start mid-way)."""
    return path.plain and (fmt == "lastfm-1k" or (fmt == "canonical" and path.suffix.lower() != ".parquet"))


def _next_line(fh, at: int, size: int) -> int:
    """The offset just after the first newline at or after ``at`` (``size`` when there is none)."""
    fh.seek(at)
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            return size
        found = chunk.find(b"\n")
        if found >= 0:
            return at + found + 1
        at += len(chunk)


def plan(files: list[LogFile], fmt: str, columns: dict[str, str], range_bytes: int = RANGE_BYTES) -> tuple[list[Task], dict[int, int]]:
    """The tasks of an import, and for each line file the line number of its first data line."""
    tasks, first_line = [], {}
    for file_no, path in enumerate(files):
        if not _is_line_file(fmt, path):
            tasks.append(Task(file_no, 0, path))
            continue
        size = path.path.stat().st_size
        with open(path.path, "rb") as fh:
            head = fh.read(1 << 16)
            whole_file_check(path, head)
            start, first_line[file_no] = (len(columnar.UTF8_BOM) if head.startswith(columnar.UTF8_BOM) else 0), 1
            header = mapping = None
            ranges = []
            if fmt == "canonical":  # RFC 4180: a record may span lines, so the ranges end where the records do
                for b in columnar.blocks(path, fmt, range_bytes):
                    found = b.records
                    if header is None:
                        names, fields = csv_header(path, columnar._decoded(b.data, found.starts[0], found.ends[0])[0], columns)
                        header, mapping, first_line[file_no] = tuple(names), tuple(fields.items()), 2
                        found = found.after(1)
                    if len(found):
                        ranges.append((b.offset + int(found.starts[0]), b.offset + len(b.data)))
            while start < size and fmt != "canonical":
                end = size if start + range_bytes >= size else _next_line(fh, start + range_bytes, size)
                ranges.append((start, end))
                start = end
            for block, (start, end) in enumerate(ranges):
                tasks.append(Task(file_no, block, path, start, end, header, mapping))
    return tasks, first_line


def _run_task(task: Task, fmt: str, window: field_rules.Window, columns: dict[str, str], salt: str, text_form: str,
              parts: str) -> dict:
    """Read one task's rows, write its events and refusals as part files, return its counts."""
    finish = lambda events: pseudonymised(normalised(events, text_form), salt, {})  # noqa: E731
    if _is_line_file(fmt, task.path):
        with open(task.path.path, "rb") as fh:
            fh.seek(task.start)
            data = fh.read(task.end - task.start)
        found = line_split.records(data, *columnar.dialect(fmt))
        lines = len(found)
        batches = [columnar._block_batch(fmt, columnar.Block(1, task.start, memoryview(data), found), list(task.header or ()),
                                         dict(task.mapping or ()), window, finish)]
    else:
        batches, lines = list(_batches(fmt, task.path, window, columns, finish)), 0
    events = pl.concat([b.events.select(*FIELDS, "row") for b in batches])
    refused = pl.DataFrame([(row, (WITHHELD if salt else raw)[:RAW_LIMIT], field_rules.public(reason, withhold=bool(salt)))
                            for b in batches for row, raw, reason in b.refused],
                           schema={"row": pl.Int64, "raw": pl.String, "reason": pl.String}, orient="row")
    name = f"{task.file:06d}-{task.block:06d}"
    which = [pl.lit(task.file, pl.Int64).alias("_file"), pl.lit(task.block, pl.Int64).alias("_block")]
    for rows, kind in ((events, "events"), (refused.with_row_index("_seq").cast({"_seq": pl.Int64}), "refused")):
        if not rows.is_empty():
            with atomic_path(Path(parts) / f"{name}.{kind}.parquet") as tmp:
                rows.with_columns(which).write_parquet(tmp)
    return {"file": task.file, "block": task.block, "lines": lines, "read": sum(b.read for b in batches),
            "accepted": events.height, "refused": refused.height,
            "reasons": refused["reason"].str.split(" (").list.first().value_counts().rows(),
            "whole_file": refused.filter(pl.col("row") == WHOLE_FILE)["reason"].to_list()[:1],
            "has_device": bool(events["device"].is_not_null().any()),
            "normalised": sum(int(b.events[NORMALISED].sum()) for b in batches)}


def _offsets(results: list[dict], first_line: dict[int, int]) -> dict[tuple[int, int], int]:
    """What to add to a task's row numbers: its range's first line in the file, less one (record files: nothing)."""
    offsets, at = {}, dict(first_line)
    for r in sorted(results, key=lambda r: (r["file"], r["block"])):
        if r["file"] in first_line:
            offsets[r["file"], r["block"]] = at[r["file"]] - 1
            at[r["file"]] += r["lines"]
        else:
            offsets[r["file"], r["block"]] = 0
    return offsets


def import_log(spark: SparkSession, pattern: str, fmt: str, out: StageFiles, salt: str = "", log: Log = None,
               window: field_rules.Window | None = None, columns: dict[str, str] | None = None,
               range_bytes: int = RANGE_BYTES, text_form: str = "NFC") -> ImportReport:
    window, columns = window or field_rules.Window(), columns or {}
    check_text_form(text_form)
    files, skipped = inputs_of(pattern)
    fmt = format_of(fmt, files)
    names = shown_names(files, salt)

    def named(message: str) -> str:
        for path, name in zip(files, names):
            message = message.replace(str(path), name)
        return message

    try:
        tasks, first_line = plan(files, fmt, columns, range_bytes)
    except LogInputError as exc:
        raise LogInputError(named(str(exc))) from None
    folder = Path(out.folder)
    parts = folder / ".import-parts"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)

    def run(task: Task):
        try:
            return _run_task(task, fmt, window, columns, salt, text_form, str(parts))
        except LogInputError as exc:
            return {"error": str(exc)}

    results = spark.sparkContext.parallelize(tasks, max(1, len(tasks))).map(run).collect() if tasks else []
    if errors := [r["error"] for r in results if "error" in r]:
        raise LogInputError(named(errors[0]))
    offsets = _offsets(results, first_line)
    report = _counts(results, names, log, files)
    report.text_form, report.normalised = text_form, sum(r["normalised"] for r in results)
    report.files_skipped = skipped
    where = f"{len(files)} file(s) at {pattern!r}"
    if not any(r["accepted"] for r in results):  # refused with the local engine's message
        totals(report, where)
    events = _numbered(spark, parts, offsets)
    # (the window runs again for the repeats: keeping it on the executors between the two was slower at 4M events)
    first = events.withColumn("_n", F.row_number().over(Window.partitionBy(*FIELDS).orderBy("_file", "_row")))
    write_dataset(first.filter("_n = 1").orderBy("_file", "_row").select(*FIELDS), out["events"], EVENTS)
    repeats = _raw_duplicates(first.filter("_n > 1").select(*FIELDS, "_file", "_row")).persist(StorageLevel.MEMORY_AND_DISK)
    # (few rows, kept for their counts and their write)
    for f, n in repeats.groupBy("_file").count().collect():  # as the local import settles them: accepted, then not
        quarantine_duplicates(report, names[f], n)
        report.reasons[DUPLICATE.split(" (")[0]] += n
    totals(report, where)
    shown = F.element_at(F.array(*map(F.lit, names)), F.col("_file").cast("int") + 1)
    write_dataset(_refused(spark, parts, offsets).select(F.lit(0).alias("_kind"), "_file", "_block", "_seq",
                                                         shown.alias("file"), "row", "reason", "raw")
                  .unionByName(repeats.select(F.lit(1).alias("_kind"), "_file", F.lit(0).cast("long").alias("_block"),
                                              F.col("_row").alias("_seq"), shown.alias("file"), F.col("_row").alias("row"),
                                              F.lit(DUPLICATE).alias("reason"), "raw"))
                  .orderBy("_kind", "_file", "_block", "_seq"), out["quarantine"], QUARANTINE)
    repeats.unpersist()
    shutil.rmtree(parts)
    return report


def _counts(results, names, log, files) -> ImportReport:
    """The report's per-file counts, the refusals' reasons and the files refused whole, from the tasks' results."""
    report = ImportReport()
    report.files = {name: {"read": 0, "accepted": 0, "quarantined": 0} for name in names}
    for r in sorted(results, key=lambda r: (r["file"], r["block"])):
        name = names[r["file"]]
        counts = report.files[name]
        counts["read"] += r["read"]
        counts["accepted"] += r["accepted"]
        counts["quarantined"] += r["refused"]
        report.has_device = report.has_device or r["has_device"]
        for reason, n in r["reasons"]:
            report.reasons[reason] += n
        if r["whole_file"]:
            report.files_rejected[name] = r["whole_file"][0]
    if log:
        for path, name in zip(files, names):
            c = report.files[name]
            log(f"{path.name}: read {c['read']:,}, accepted {c['accepted']:,}, quarantined {c['quarantined']:,}")
    return report


def _raw_duplicates(duplicates):
    """The repeated rows with ``raw``: their fields as the local import quarantines them (JSON, by the same code)."""
    def as_json(batches):
        import polars as pl
        import pyarrow as pa

        for batch in batches:
            rows = pl.DataFrame(pl.from_arrow(batch)).cast(EVENT_SCHEMA)
            raws = [duplicate_raw(rec)[:RAW_LIMIT] for rec in rows.iter_rows(named=True)]
            yield pa.RecordBatch.from_arrays([batch.column("_file"), batch.column("_row"), pa.array(raws, pa.string())],
                                             names=["_file", "_row", "raw"])

    return duplicates.mapInArrow(as_json, "_file long, _row long, raw string")


def _refused(spark: SparkSession, parts: Path, offsets: dict[tuple[int, int], int]):
    """The tasks' refused rows, numbered in their files (a whole file's refusal keeps its row)."""
    found = sorted(parts.glob("*.refused.parquet"))
    if not found:
        return spark.createDataFrame([], "_file long, _block long, _seq long, row long, raw string, reason string")
    shift = spark.createDataFrame([(f, b, o) for (f, b), o in offsets.items()], "_file long, _block long, _offset long")
    return spark.read.parquet(*map(str, found)).join(F.broadcast(shift), ["_file", "_block"]) \
                .withColumn("row", F.when(F.col("row") == WHOLE_FILE, F.col("row")).otherwise(F.col("row") + F.col("_offset")))


def _numbered(spark: SparkSession, parts: Path, offsets: dict[tuple[int, int], int]):
    """Every accepted row with ``_file`` and ``_row``, its line (or record) number in its file."""
    shift = spark.createDataFrame([(f, b, o) for (f, b), o in offsets.items()], "_file long, _block long, _offset long")
    events = spark.read.parquet(*[str(p) for p in sorted(parts.glob("*.events.parquet"))])  # (a glob would look
    # for a streaming sink's metadata folder and log a stack trace)
    return events.join(F.broadcast(shift), ["_file", "_block"]) \
                 .withColumn("_row", F.col("row") + F.col("_offset")).drop("row", "_block", "_offset")


def raw_events(spark: SparkSession, upstream, out: StageFiles, log: Log = None, **params) -> dict:
    """The import stage on Spark (params as ``pipeline.engines.local.raw_events``)."""
    window, rest = import_window(params)
    report = import_log(spark, rest["path"], rest.get("format", "auto"), out, salt_from(rest.get("salt_env", "")), log, window,
                        rest.get("columns"), text_form=rest.get("text_form", "NFC"))
    return report.as_dict()

