"""Real listening logs in, nothing lost: read a log in one of the formats people have, validate
every row, and write the accepted events (canonical schema) and the rejected rows (quarantine,
with file, row and reason). Accepted + quarantined = read, for every file.

Formats: see ``pipeline.ingest.log_formats``.
"""

from __future__ import annotations

import glob
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)

from pipeline.contract import EVENT_SCHEMA, QUARANTINE_SCHEMA
from pipeline.ingest import columnar, field_rules
from pipeline.ingest.inputs import LogFile, log_files
from pipeline.ingest.log_formats import FIELDS, RAW_LIMIT, WHOLE_FILE, LogInputError, reader
from pipeline.ingest.pseudonyms import WITHHELD, pseudonymised, shown_names
from pipeline.ingest.text_form import NORMALISED, check_text_form, normalised
from pipeline.io import atomic_path

FORMATS = ("canonical", "lastfm-1k", "spotify", "listenbrainz")


@dataclass
class ImportReport:
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    has_device: bool = False
    files_rejected: dict[str, str] = field(default_factory=dict)  # whole files whose records could not be read
    normalised: int = 0  # text values the Unicode normal form changed (in accepted rows, duplicates included)
    text_form: str = "NFC"
    files_skipped: list[str] = field(default_factory=list)  # companions of the listens (read-me files, profiles, ...)

    def as_dict(self) -> dict:
        return {"read": self.read, "accepted": self.accepted, "quarantined": self.quarantined,
                "reasons": dict(self.reasons), "files": self.files, "has_device": self.has_device,
                "files_rejected": self.files_rejected, "files_skipped": self.files_skipped, "text_form": self.text_form or "as written",
                "values_normalised": self.normalised}


def resolve_files(pattern: str) -> list[Path]:
    """Files matching a path, a folder (every file in it, recursively) or a glob; sorted."""
    if not pattern:
        raise LogInputError("no input path given: set the source's `path` to a file, folder or glob")
    p = Path(pattern)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
    elif p.is_file():
        files = [p]
    else:
        files = sorted(Path(f) for f in glob.glob(pattern, recursive=True) if Path(f).is_file())
    if not files:
        raise LogInputError(f"no input files at {pattern!r} (no such file, or the folder/glob matches nothing)")
    # each file once, however many links or glob paths (a loop through a symlinked folder) lead to it
    seen: set[Path] = set()
    return [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]


def inputs_of(pattern: str) -> tuple[list[LogFile], list[str]]:
    """The log's files at ``pattern`` as read (``pipeline.ingest.inputs``: archives expanded, compression told), and the
    companions skipped; refuses a pattern that leaves no file to read."""
    files, skipped = log_files(resolve_files(pattern))
    if not files:
        raise LogInputError(f"no log files at {pattern!r}: only files that exports ship beside the listens "
                            f"({', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''})")
    return files, skipped


def detect_format(files: list[LogFile]) -> str:
    """The format from file names (a compressed file's without the compression's suffix), refusing to guess when
    they are unknown or mixed."""
    def one(f: LogFile) -> str | None:
        name = f.name.lower()
        if name.startswith("streaming_history_audio") and name.endswith(".json"):
            return "spotify"
        if name.startswith("userid-timestamp-artid-artname-traid-traname") or name.endswith(".tsv"):
            return "lastfm-1k"
        if name.endswith((".listens", ".jsonl")):
            return "listenbrainz"
        if name.endswith((".csv", ".parquet")):
            return "canonical"
        return None

    kinds = {one(f) for f in files}
    if None in kinds:
        unknown = next(f for f in files if one(f) is None)
        raise LogInputError(f"cannot tell the format of {unknown}; set the source's `format` to one of {', '.join(FORMATS)}")
    if len(kinds) > 1:
        raise LogInputError(f"the input mixes formats ({', '.join(sorted(kinds))}); point the source at one format at a time")
    return kinds.pop()


def format_of(fmt: str, files: list[LogFile]) -> str:
    """The format to read ``files`` in: ``fmt``, or the detected one for ``auto``; refuses an unknown one."""
    if fmt == "auto":
        fmt = detect_format(files)
    if fmt not in FORMATS:
        raise LogInputError(f"unknown format {fmt!r}; supported: {', '.join(FORMATS)} (or 'auto')")
    return fmt


DUPLICATE = "exact duplicate of an earlier row"
RECORD_BATCH = 100_000


def import_log(
    pattern: str, fmt: str, events_path: Path, quarantine_path: Path, salt: str = "", log=None,
    window: field_rules.Window | None = None, columns: dict[str, str] | None = None, text_form: str = "NFC",
) -> ImportReport:
    """Read every file, write accepted events (canonical schema) and the quarantine; return the counts.

    Every field is checked by ``pipeline.ingest.field_rules`` (timestamps inside ``window``), and the accepted rows' text put
    in the Unicode normal form ``text_form`` (``normalised``; "" keeps it as written). A file whose records
    cannot be read at all is one quarantine row (row 0) and is listed in ``files_rejected``: its records are
    not counted, so the reconcile check fails rather than balance without them. Accepted rows are spilled to
    disk a batch at a time beside ``events_path``, so memory holds one batch and a hash per row, not the log."""
    window = window or field_rules.Window()
    window = replace(window, now=window.now or datetime.now(timezone.utc))  # one "now" for every row of the import
    files, skipped = inputs_of(pattern)
    fmt = format_of(fmt, files)
    report = ImportReport(text_form=check_text_form(text_form), files_skipped=skipped)
    quarantine: dict[str, list] = {k: [] for k in QUARANTINE_SCHEMA}

    def reject(name: str, row: int, raw: str, reason: str) -> None:
        reason = field_rules.public(reason, withhold=bool(salt))
        quarantine["file"].append(name)
        quarantine["row"].append(row)
        quarantine["reason"].append(reason)
        quarantine["raw"].append(raw[:RAW_LIMIT])
        report.reasons[reason.split(" (")[0]] += 1

    names = shown_names(files, salt)
    events_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=events_path.parent, prefix=".import-") as spill:
        first = Path(spill) / "events.arrow"  # every accepted row, duplicates still in, batch by batch (Arrow IPC: mapped, not read)
        try:
            seen = _read_all(files, names, fmt, window, salt, text_form, report, reject, log, columns or {}, first)
        except LogInputError as exc:  # its message names a file: as pseudonymised as everything else
            message = str(exc)
            for path, name in zip(files, names):
                message = message.replace(str(path), name)
            raise LogInputError(message) from None
        duplicates = _duplicates(first, seen)
        settle(report, duplicates, names, reject, f"{len(files)} file(s) at {pattern!r}")
        with atomic_path(events_path) as tmp:  # input order (file, then row) is kept: ties stay stable downstream
            kept = pl.scan_ipc(first)
            if not duplicates.is_empty():
                kept = kept.with_row_index("_pos").filter(~pl.col("_pos").is_in(duplicates["_pos"].implode())).drop("_pos")
            kept.sink_parquet(tmp, maintain_order=True, compression="zstd", compression_level=1)  # a fifth bigger than
            # polars' default level, and the import's last serial step is a fifth faster
    with atomic_path(quarantine_path) as tmp:
        pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA).write_parquet(tmp)
    return report


def settle(report: ImportReport, duplicates: pl.DataFrame, names: list[str], reject, where: str) -> None:
    """Quarantine the ``duplicates`` (FIELDS, ``_file``, ``_row``; in input order), moving each from its file's
    accepted rows to its quarantined ones, and total the report; refuse an import that accepted nothing."""
    for rec in duplicates.select(*FIELDS, "_file", "_row").iter_rows(named=True):
        reject(names[rec["_file"]], rec["_row"], duplicate_raw(rec), DUPLICATE)
        quarantine_duplicates(report, names[rec["_file"]], 1)
    totals(report, where)


def duplicate_raw(rec: dict) -> str:
    """A repeated row's ``raw`` in the quarantine: its fields, as JSON."""
    return json.dumps({k: rec[k] for k in FIELDS}, default=str)


def quarantine_duplicates(report: ImportReport, name: str, n: int) -> None:
    """Move ``n`` rows of file ``name`` found to repeat earlier ones from its accepted rows to its quarantined ones."""
    report.files[name]["accepted"] -= n
    report.files[name]["quarantined"] += n


def totals(report: ImportReport, where: str) -> None:
    """Total the report's per-file counts; refuse an import that accepted nothing."""
    report.read = sum(c["read"] for c in report.files.values())
    report.accepted = sum(c["accepted"] for c in report.files.values())
    report.quarantined = sum(c["quarantined"] for c in report.files.values())
    if not report.accepted:
        why = ", ".join(f"{n} rows: {r}" for r, n in report.reasons.most_common(3)) if report.reasons else "the input is empty"
        raise LogInputError(f"no usable events in {where} ({why})")


@dataclass
class _Seen:
    """Per accepted row, in the order written: its file, its row and a hash of its fields."""

    files: list[pl.Series] = field(default_factory=list)
    rows: list[pl.Series] = field(default_factory=list)
    hashes: list[pl.Series] = field(default_factory=list)


def _duplicates(written: Path, seen: _Seen) -> pl.DataFrame:
    """The accepted rows that repeat an earlier one field for field, with their position in ``written``, file and
    row. Only rows whose hash repeats are read back (from the memory-mapped file) and compared."""
    empty = pl.DataFrame(schema={**EVENT_SCHEMA, "_pos": pl.UInt32, "_file": pl.Int64, "_row": pl.Int64})
    if not seen.hashes:
        return empty
    hashes = pl.concat(seen.hashes)
    ordered = np.sort(hashes.to_numpy())  # a sort finds the repeated hashes far faster than a hash table of 20M
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if not len(repeated):
        return empty
    at = np.flatnonzero(hashes.is_in(pl.Series(repeated)).to_numpy())
    candidates = pl.DataFrame({"_pos": pl.Series(at, dtype=pl.UInt32), "_file": pl.concat(seen.files).gather(at),
                               "_row": pl.concat(seen.rows).gather(at)})
    with pa.memory_map(str(written)) as source:  # only the candidates' pages are read
        taken = _take(pa.ipc.open_file(source), candidates["_pos"].to_numpy())
    rows = (pl.DataFrame(pl.from_arrow(taken)).with_columns(candidates["_pos"])
            .join(candidates.select("_pos", "_file", "_row"), on="_pos", maintain_order="left"))
    return rows.filter(~pl.struct(list(FIELDS)).is_first_distinct())


def _take(file: pa.ipc.RecordBatchFileReader, positions: np.ndarray) -> pa.Table:
    """The rows at ``positions`` (ascending) of a mapped Arrow file, taken batch by batch (a take on the whole
    table would first concatenate its batches, copying every row)."""
    batches = [file.get_batch(i) for i in range(file.num_record_batches)]
    starts = np.cumsum([0] + [b.num_rows for b in batches])
    of = np.searchsorted(starts, positions, side="right") - 1
    parts = [batches[i].take(pa.array(positions[of == i] - starts[i])) for i in np.unique(of)]
    return pa.Table.from_batches(parts, schema=file.schema)


def _read_all(files, names, fmt, window, salt, text_form, report, reject, log, columns, written: Path) -> _Seen:
    """Every row of every file: accepted rows appended to ``written`` (Parquet, canonical schema), refused rows
    to ``reject``. Returns each accepted row's file, row and hash, in the order written."""
    seen, pseudonyms, writer, schema = _Seen(), {}, None, None

    def finish(events: pl.DataFrame) -> pl.DataFrame:
        """Normalise, pseudonymise and hash a batch (in the reader's threads): ``_normalised`` and ``_hash`` are added."""
        return pseudonymised(normalised(events, text_form), salt, pseudonyms).with_columns(
            pl.struct(list(FIELDS)).hash().alias("_hash"))

    try:
        for file_no, (path, name) in enumerate(zip(files, names)):
            counts = {"read": 0, "accepted": 0, "quarantined": 0}
            for batch in _batches(fmt, path, window, columns, finish):
                counts["read"] += batch.read
                for row, raw, reason in batch.refused:
                    reject(name, row, WITHHELD if salt else raw, reason)
                    if row == WHOLE_FILE:
                        report.files_rejected[name] = field_rules.public(reason, withhold=bool(salt))
                counts["quarantined"] += len(batch.refused)
                events = batch.events
                if events.is_empty():
                    continue
                table = events.select(FIELDS).to_arrow()
                if writer is None:
                    schema, writer = table.schema, pa.ipc.new_file(written, table.schema)
                writer.write_table(table.cast(schema))
                seen.files.append(pl.repeat(file_no, events.height, dtype=pl.Int64, eager=True))
                seen.rows.append(events["row"])
                seen.hashes.append(events["_hash"])
                counts["accepted"] += events.height
                report.normalised += int(events[NORMALISED].sum())
                report.has_device = report.has_device or events["device"].is_not_null().any()
            report.files[name] = counts
            if log:
                log(f"{path.name}: read {counts['read']:,}, accepted {counts['accepted']:,}, quarantined {counts['quarantined']:,}")
    finally:
        if writer:
            writer.close()
    return seen


def _batches(fmt: str, path: LogFile, window: field_rules.Window, columns, finish) -> Iterator[columnar.Batch]:
    """A file's rows in batches: the line formats vectorised (``pipeline.ingest.columnar``), the record formats row by row;
    ``finish`` applied to each batch's events."""
    if fmt == "lastfm-1k" or (fmt == "canonical" and path.suffix.lower() != ".parquet"):
        yield from columnar.batches(fmt, path, window, columns, finish=finish)
        return
    rows: list = []
    for row in reader(fmt, path, columns):
        rows.append(row)
        if len(rows) == RECORD_BATCH:
            yield _finished(columnar.decided(rows, window), finish)
            rows = []
    yield _finished(columnar.decided(rows, window), finish)


def _finished(batch: columnar.Batch, finish) -> columnar.Batch:
    batch.events = finish(batch.events)
    return batch
