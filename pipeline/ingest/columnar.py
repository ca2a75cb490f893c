"""The line formats (canonical CSV, Last.fm-1K TSV) read a block at a time with polars, at millions of rows a second.

An accelerator, not a second set of rules. Vectorised expressions accept a row only where they can
show that it passes every rule of ``pipeline.ingest.field_rules`` with the very value those rules would
give: timestamps in the common ISO-8601 forms (date; date and time to the second, with ``T`` or a
space, then ``Z``, an offset, or nothing) and as whole unix seconds; text fields stripped with
Python's own set of white-space characters and checked against Python's own control and zero-width
characters (both taken from ``str.isspace`` and ``unicodedata``, not restated). Every other row
(a quoted CSV field, a fraction of a second, a character to refuse, a broken line) goes to the
per-row functions of ``pipeline.ingest.log_formats`` and the Python rules, which accept it or give its
reason. The events, the quarantine and its reasons are therefore the per-row path's, row for row
(``tests/test_columnar.py`` holds both to that on generated and adversarial rows).
"""

from __future__ import annotations

import functools
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.contract import EVENT_SCHEMA
from pipeline.ingest import field_rules, line_split
from pipeline.ingest.columns import FIELDS
from pipeline.ingest.inputs import LogFile, opened
from pipeline.ingest.log_formats import (
    LASTFM_COLUMNS,
    RAW_LIMIT,
    Row,
    csv_header,
    csv_row,
    lastfm_row,
    unterminated_row,
    whole_file_check,
)

BLOCK_BYTES = 32 << 20
THREADS = 2
UTF8_BOM = field_rules.BOM.encode()
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
CLOCK = r"[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
OFFSET = r"[+-]([01][0-9]|2[0-3]):[0-5][0-9]"
UNIX_DIGITS = r"^[0-9]{1,11}$"  # whole seconds that a float holds exactly
BATCH_SCHEMA = {**EVENT_SCHEMA, "row": pl.Int64}


@dataclass
class Batch:
    """The outcome of a run of rows of one file: accepted events (canonical schema and their ``row``),
    refused rows as (row, raw text, reason), and how many rows were read."""

    events: pl.DataFrame
    refused: list[tuple[int, str, str]]
    read: int


@functools.cache
def _python_chars() -> tuple[str, str]:
    """Python's white space (what ``str.strip()`` removes) and a regex class of the characters the rules refuse."""
    space = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    codes = [c for c in range(0x110000) if unicodedata.category(chr(c)) in field_rules.REFUSED_CATEGORIES
             and unicodedata.category(chr(c)) != "Cs"]  # a surrogate cannot be in UTF-8 text: the per-row reader refuses it
    ranges, start = [], codes[0]
    for prev, code in zip(codes, codes[1:] + [None]):
        if code != prev + 1:
            ranges.append(f"\\x{{{start:X}}}" + (f"-\\x{{{prev:X}}}" if prev != start else ""))
            start = code
    return space, "[" + "".join(ranges) + "]"


FORMS = (  # (the form, as a regex of the stripped text; how polars parses it, to the UTC time Python gives)
    (UNIX_DIGITS, lambda t: pl.from_epoch(t.cast(pl.Int64), "s").dt.replace_time_zone("UTC")),
    (f"^{DATE}{CLOCK}Z?$", lambda t: t.str.replace(" ", "T", literal=True).str.strip_suffix("Z")
     .str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False, cache=False).dt.replace_time_zone("UTC")),
    (f"^{DATE}{CLOCK}{OFFSET}$", lambda t: t.str.replace(" ", "T", literal=True)
     .str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%:z", strict=False, cache=False)),
    (f"^{DATE}$", lambda t: t.str.strptime(pl.Datetime("us"), "%Y-%m-%d", strict=False).dt.replace_time_zone("UTC")),
)
UTC = pl.Datetime("us", "UTC")


def timestamp(values: pl.Series, window: field_rules.Window) -> pl.Series:
    """The UTC time ``field_rules.timestamp`` gives each string, where this can show it; null elsewhere.
    The values are tried as they are first: the forms are anchored and hold no white space, so a value in one
    needs no stripping (the usual case); only the values in none are stripped and tried again."""
    out, left = _in_forms(values)
    if len(left):
        out = out.scatter(left, _in_forms(_stripped(values.gather(left)))[0])
    inside = out.is_between(pl.lit(window.earliest).cast(UTC), pl.lit(window.latest).cast(UTC)).fill_null(False)
    if inside.all():  # the usual case
        return out
    return pl.select(pl.when(inside).then(out)).to_series().alias(values.name)


def _in_forms(t: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """(the values in any mix of the forms, parsed; the rows of the non-null values in none). Each form is tried on
    the rows no earlier form took, and parsed only where it matches (a log has one or two forms)."""
    out = pl.repeat(None, len(t), dtype=UTC, eager=True).alias(t.name)
    todo = np.flatnonzero(t.is_not_null().to_numpy())
    for form, parse in FORMS:
        if not len(todo):
            break
        match = (t if len(todo) == len(t) else t.gather(todo)).str.contains(form).fill_null(False).to_numpy()
        if match.all() and len(todo) == len(t):  # the usual case: one form throughout
            return parse(t).cast(UTC).alias(t.name), todo[:0]
        if match.any():
            rows = todo[match]
            out = out.scatter(rows, parse(t.gather(rows)).cast(UTC))
            todo = todo[~match]
    return out, todo


@functools.cache
def _invisible_only() -> str:
    """A regex of a value of format characters alone (which the rules take for missing)."""
    codes = [c for c in range(0x110000) if unicodedata.category(chr(c)) == field_rules.INVISIBLE]
    return "^[" + "".join(f"\\x{{{c:X}}}" for c in codes) + "]+$"


def _clean_pattern() -> str:
    """A value the rules leave as it is: no refused character, no white space at either end, no byte-order mark first."""
    space, refused = _python_chars()
    return f"^[^{space}{refused[1:-1]}{field_rules.BOM}]([^{refused[1:-1]}]*[^{space}{refused[1:-1]}])?$"


def _stripped(values: pl.Series) -> pl.Series:
    """``str.strip()`` of each value; skipped when no value has anything to strip (the usual case)."""
    if (values.str.contains(_clean_pattern()) | (values == "")).fill_null(True).all():
        return values
    return values.str.strip_chars(_python_chars()[0])


def text(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(the value ``field_rules.text`` gives each string, null when absent; whether it is shown to pass the rule).
    Most batches hold only values that need no cleaning; only the others are cleaned."""
    space, refused = _python_chars()
    as_is = (values.str.contains(_clean_pattern()) | (values == "")).fill_null(True)
    value, passes = values, pl.repeat(True, len(values), eager=True)
    if not as_is.all():
        cleaned = values.str.strip_chars(space).str.strip_prefix(field_rules.BOM).str.strip_chars(space)
        value, passes = cleaned, ~cleaned.str.contains(refused).fill_null(False)
    passes = passes & ~value.str.contains(_invisible_only()).fill_null(False)  # left to the rules, which say missing
    if not (value == "").any():
        return value.alias(values.name), passes
    return pl.select(pl.when(value != "").then(value)).to_series().alias(values.name), passes


def checked(fields: pl.DataFrame, plain: np.ndarray, window: field_rules.Window) -> tuple[pl.DataFrame, np.ndarray]:
    """Reader fields (strings under canonical names, and ``row``) as clean events, and which rows were shown
    to pass every rule (of the lines that are ``plain``, see ``pipeline.ingest.line_split``)."""
    out = {"timestamp": timestamp(fields["timestamp"], window)}
    ok = plain & out["timestamp"].is_not_null().to_numpy()
    for f in FIELDS[1:]:
        out[f], passes = text(fields[f])
        ok &= passes.to_numpy() & (out[f].is_not_null().to_numpy() if f in field_rules.IDS else True)
    return pl.DataFrame({**out, "row": fields["row"]}), ok


@dataclass
class Block:
    """Whole records of a file: ``data`` (a view of what was read, not a copy: the string views of its fields point
    into it) from byte ``offset`` of the file, its ``records``, and the number of the first in the file (``row``)."""

    row: int
    offset: int
    data: memoryview
    records: line_split.Records


def dialect(fmt: str) -> tuple[str, bool]:
    """A line format's separator and whether it quotes (CSV) or not (the Last.fm TSV)."""
    return ("\t", False) if fmt == "lastfm-1k" else (",", True)


def blocks(path: LogFile | Path, fmt: str, block_bytes: int) -> Iterator[Block]:
    """A line format's file in blocks of whole records (``pipeline.ingest.line_split``: a TSV's lines, a CSV's RFC 4180
    records), read as a stream (a compressed file is decompressed as it is read), a UTF-8 byte-order mark at the start
    dropped. A block ends after its last whole record, and the next starts there (a record longer than a block makes
    the block longer). ``offset``s count the decompressed bytes."""
    sep, csv = dialect(fmt)
    row, size = 1, block_bytes
    with opened(path) as fh:
        head = fh.read(1 << 16)
        whole_file_check(path, head)
        pending = head.removeprefix(UTF8_BOM)  # read, not yet in a block
        offset, ended = len(head) - len(pending), len(head) < 1 << 16
        while True:
            if len(pending) < size and not ended:
                more = fh.read(size - len(pending))
                ended = len(more) < size - len(pending)
                pending += more
            if not pending:
                return
            data = pending[:size] if len(pending) > size else pending
            found = line_split.records(data, sep, csv, final=ended and len(data) == len(pending))
            if not found.used:  # no whole record yet: a longer block
                size *= 2
                continue
            yield Block(row, offset, memoryview(data)[:found.used], found)
            pending, offset, row, size = pending[found.used:], offset + found.used, row + len(found), block_bytes


def _fields_lastfm(parts: list[pl.Series]) -> pl.DataFrame:
    user, ts, _artid, artist, mbid, track = parts
    mbid = _stripped(mbid)
    song = pl.select(pl.when(mbid != "").then(mbid)).to_series()
    by_name = np.flatnonzero(song.is_null().to_numpy())  # no MBID: "artist – track" (only these rows are built)
    if len(by_name):
        track = _stripped(track.gather(by_name))
        named = pl.select(pl.when(track != "").then(_stripped(artist.gather(by_name)) + " – " + track)).to_series()
        song = song.scatter(by_name, named)
    none = pl.repeat(None, len(user), dtype=pl.String, eager=True)
    return pl.DataFrame({"timestamp": ts, "user_id": user, "device": none, "song_id": song, "artist": artist,
                         "genre": none, "language": none})


def _fields_csv(parts: list[pl.Series], header: list[str], mapping: Mapping[str, str]) -> pl.DataFrame:
    none = pl.repeat(None, len(parts[0]), dtype=pl.String, eager=True)
    return pl.DataFrame({f: parts[header.index(mapping[f])] if f in mapping else none for f in FIELDS})


def _decoded(block: bytes, a: int, b: int) -> tuple[str | None, str]:
    """A line as the per-row functions take it: (its text, "") or, when it is not UTF-8, (None, its raw text)."""
    raw = bytes(block[a:b])
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, raw.decode("utf-8", errors="replace")


def batches(fmt: str, path: Path, window: field_rules.Window, columns: Mapping[str, str] | None = None,
            block_bytes: int | None = None, threads: int = THREADS,
            finish: Callable[[pl.DataFrame], pl.DataFrame] | None = None) -> Iterator[Batch]:
    """Every row of a Last.fm TSV (``lastfm-1k``) or canonical CSV (``canonical``), a block at a time, in order;
    ``threads`` blocks are read at once (the kernel and polars release the GIL) and one more waits, so memory holds that many.
    ``finish`` is applied to each batch's events in its thread (the caller's per-batch work, in parallel too)."""
    header = mapping = None
    with ThreadPoolExecutor(threads) as pool:
        pending: deque[Future] = deque()
        for block in blocks(path, fmt, block_bytes or BLOCK_BYTES):
            if fmt == "canonical" and header is None:
                found = block.records
                header, mapping = csv_header(path, _decoded(block.data, found.starts[0], found.ends[0])[0], columns or {})
                block = replace(block, row=block.row + 1, records=found.after(1))
                if not len(block.records):
                    continue
            pending.append(pool.submit(_block_batch, fmt, block, header, mapping, window, finish))
            if len(pending) > threads:  # one block queued beyond the threads, so no thread waits for the reader
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _block_batch(fmt: str, block: Block, header, mapping, window: field_rules.Window, finish) -> Batch:
    if fmt == "lastfm-1k":
        cut = line_split.split(block.data, "\t", LASTFM_COLUMNS, csv=False, found=block.records)
        fields, row_of = _fields_lastfm(cut.fields), lastfm_row
    else:
        cut = line_split.split(block.data, ",", len(header), csv=True, found=block.records)
        fields = _fields_csv(cut.fields, header, mapping)
        row_of = functools.partial(csv_row, header=header, mapping=mapping)
    rows = np.arange(block.row, block.row + len(cut.plain), dtype=np.int64)
    events, ok = checked(fields.with_columns(pl.Series("row", rows)), cut.plain, window)
    doubtful = [unterminated_row(int(rows[j]), bytes(block.data[cut.starts[j]:cut.ends[j]])) if cut.unterminated[j]
                else row_of(int(rows[j]), *_decoded(block.data, cut.starts[j], cut.ends[j])) for j in np.flatnonzero(~ok)]
    batch = decided(doubtful, window, read=len(rows), fast=events.filter(pl.Series(ok)))
    if finish:
        batch.events = finish(batch.events)
    return batch


def decided(rows: list[Row], window: field_rules.Window, read: int | None = None, fast: pl.DataFrame | None = None) -> Batch:
    """Reader rows decided by the per-row rules (``field_rules.event``), with the rows ``fast`` already accepted, in
    row order; ``read``: the rows the batch read (default: ``rows``)."""
    refused, accepted = [], []
    for i, raw, rec, reason in rows:
        if rec is not None:
            rec, reason = field_rules.event(rec, window)
        if reason:
            refused.append((i, raw[:RAW_LIMIT], reason))
        else:
            accepted.append({**rec, "row": i})
    events = pl.DataFrame(accepted, schema=BATCH_SCHEMA)
    if fast is not None:
        events = pl.concat([fast.select(list(BATCH_SCHEMA)).cast(BATCH_SCHEMA), events]).sort("row")
    return Batch(events, refused, len(rows) if read is None else read)
