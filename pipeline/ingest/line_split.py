"""Records and fields of a block of text, found by numba passes and split into Arrow string views (no copy of the text).

The Python faces are :func:`records` and :func:`split`; the kernels :func:`_records_kernel` and :func:`_split_kernel`.

A record of a TSV is a line: what iterating the file in binary gives, with its trailing ``\\r`` and ``\\n``
removed. A record of a CSV follows RFC 4180 as Python's ``csv`` module reads it: a line break inside a quoted
field (a field whose first character is ``"``; ``""`` inside it is a quote) belongs to the record, so one record
may span lines. A quoted field still open ``QUOTED_LIMIT`` bytes after its record began, or at the end of the file,
is *unterminated*: the record is then only its first line, refused with that reason, and reading goes on at the next
line (a stray quote costs one row, never the rest of the file, and never invents a record from the text after it).
``pipeline.ingest.log_formats.csv_records`` is the same definition written plainly in Python (the tests hold the two equal).

A record's fields are its pieces between separators. A record is *plain* when it has exactly the expected number of
fields and, for CSV, no quote, carriage return or NUL (characters the ``csv`` module treats specially): only plain
records are split here; the others are left to the per-row reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import pyarrow as pa

QUOTED_LIMIT = 1 << 17  # 131,072: the csv module's own limit on a field (csv.field_size_limit())
VIEW_BYTES = 16  # an Arrow string view: length, then 12 inline bytes, or a 4-byte prefix, buffer index and offset
INLINE = 12
NEWLINE, CR, QUOTE, NUL = 10, 13, 34, 0


@dataclass
class Records:
    """The records of a block: ``starts``/``ends`` (each record's bytes, without its line end), which are
    ``unterminated`` (a CSV record whose quoted field never closes: only its first line), and ``used``: the bytes
    up to the end of the last whole record (a block that is not the file's last may end inside one)."""

    starts: np.ndarray
    ends: np.ndarray
    unterminated: np.ndarray
    used: int

    def __len__(self) -> int:
        return len(self.starts)

    def after(self, k: int) -> "Records":
        """The records from the k-th on."""
        return Records(self.starts[k:], self.ends[k:], self.unterminated[k:], self.used)


@dataclass
class Split:
    """``fields[k]``: the k-th field of every record (empty where the record is not plain); ``plain``: which records
    were split; ``starts``/``ends``/``unterminated``: each record's bytes in the block, and whether its quoted field
    never closes (for the records left to the per-row reader)."""

    fields: list[pl.Series]
    plain: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    unterminated: np.ndarray


@numba.njit(cache=True, nogil=True, inline="always")
def _put(views, words, at, buf, a, b):
    """Write the view of ``buf[a:b]`` at byte ``at`` of the flat view array (``words``: the same memory as uint32)."""
    length = b - a
    w = at >> 2
    words[w] = length
    if length <= INLINE:
        for k in range(length):
            views[at + 4 + k] = buf[a + k]
    else:
        words[w + 1] = buf[a] | (buf[a + 1] << 8) | (buf[a + 2] << 16) | (np.uint32(buf[a + 3]) << 24)
        words[w + 3] = a  # offset into buffer 0 (the block); the buffer index (word 2) stays 0


START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED = 0, 1, 2, 3  # the csv module's states within a record


@numba.njit(cache=True, nogil=True, inline="always")
def _content_end(buf, i, end):
    """Where the record ``buf[i:end]`` ends without its trailing carriage returns."""
    while end > i and buf[end - 1] == CR:
        end -= 1
    return end


@numba.njit(cache=True, nogil=True)
def _lines_kernel(buf, final, starts, ends):
    """``_records_kernel`` without quoting: a record is a line."""
    n, r, i = buf.shape[0], 0, 0
    for j in range(n):
        if buf[j] == NEWLINE:
            starts[r], ends[r] = i, _content_end(buf, i, j)
            r += 1
            i = j + 1
    if i < n and final:
        starts[r], ends[r] = i, _content_end(buf, i, n)
        return r + 1, n
    return r, i


@numba.njit(cache=True, nogil=True)
def _records_kernel(buf, sep, csv, limit, final, starts, ends, unterminated):
    """Fill ``starts``/``ends``/``unterminated`` (room for every line); return (records, bytes used)."""
    if not csv:
        return _lines_kernel(buf, final, starts, ends)
    n, r, i = buf.shape[0], 0, 0
    while i < n:
        j, state = i, START
        while j < n:
            c = buf[j]
            if state == QUOTED:
                if c == QUOTE:
                    state = QUOTE_IN_QUOTED
                elif j - i >= limit:
                    break
            elif c == NEWLINE:
                break
            elif state == UNQUOTED:
                if c == sep:
                    state = START
            else:  # a field's first character, or the one after a quoted field's closing quote
                state = QUOTED if c == QUOTE else START if c == sep else UNQUOTED
            j += 1
        open_quote = state == QUOTED
        if j == n and not final and not (open_quote and j - i >= limit):
            return r, i  # the record may go on in the next block
        if open_quote:  # unterminated: the record is its first line only
            j = i
            while j < n and buf[j] != NEWLINE:
                j += 1
            if j == n and not final:
                return r, i  # its first line goes on in the next block
            unterminated[r] = True
        starts[r], ends[r] = i, _content_end(buf, i, j)
        r += 1
        i = j + 1
    return r, n


def records(block: bytes | memoryview, sep: str, csv: bool, final: bool = True, limit: int | None = None) -> Records:
    """The records of ``block`` (see the module docstring); ``final``: the block ends the file, so a record
    without a line end at its end is whole (otherwise it is left for the next block: see ``Records.used``)."""
    limit = QUOTED_LIMIT if limit is None else limit
    buf = np.frombuffer(block, np.uint8)
    room = (block if isinstance(block, bytes) else bytes(block)).count(b"\n") + 1
    starts, ends, unterminated = np.zeros(room, np.int64), np.zeros(room, np.int64), np.zeros(room, np.bool_)
    count, used = _records_kernel(buf, ord(sep), csv, limit, final, starts, ends, unterminated) if len(buf) else (0, 0)
    return Records(starts[:count], ends[:count], unterminated[:count], used)


@numba.njit(cache=True, nogil=True)
def _split_kernel(buf, sep, n_fields, csv, views, words, plain, starts, ends):
    """Fill ``views`` (flat: field-major, VIEW_BYTES per record) and ``plain`` (both zeroed) for the records
    ``starts``/``ends``."""
    n_lines = plain.shape[0]
    stride = n_lines * VIEW_BYTES
    cuts = np.empty(n_fields + 1, np.int64)  # where each field starts (a separator's position + 1)
    for line in range(n_lines):
        i, end = starts[line], ends[line]
        f, good = 0, True
        cuts[0] = i
        for j in range(i, end):
            c = buf[j]
            if c == sep:
                f += 1
                if f < n_fields:
                    cuts[f] = j + 1
            elif csv and (c == QUOTE or c == NUL or c == CR or c == NEWLINE):
                good = False  # the csv module's to judge
        if good and f == n_fields - 1:
            cuts[n_fields] = end + 1
            for g in range(n_fields):
                _put(views, words, g * stride + line * VIEW_BYTES, buf, cuts[g], cuts[g + 1] - 1)
            plain[line] = True


def split(block: bytes | memoryview, sep: str, n_fields: int, csv: bool, found: Records | None = None) -> Split:
    """Every record of ``block`` split into ``n_fields`` fields; ``found``: its records, when the caller has found
    them (by default ``records(block, sep, csv)``: the block ends the file). Unterminated records are never plain."""
    found = records(block, sep, csv) if found is None else found
    n_lines = len(found)
    buf = np.frombuffer(block, np.uint8)
    views = np.zeros(n_fields * n_lines * VIEW_BYTES, np.uint8)
    plain = np.zeros(n_lines, np.bool_)
    starts, ends = found.starts, found.ends
    if n_lines:
        _split_kernel(buf, ord(sep), n_fields, csv, views, views.view(np.uint32), plain, starts, ends)
        plain &= ~found.unterminated
    if not _is_utf8(block):  # rare: the lines that are not UTF-8 are not plain, and their fields are not read
        for line in np.flatnonzero(plain):
            try:
                bytes(block[starts[line]:ends[line]]).decode("utf-8")
            except UnicodeDecodeError:
                plain[line] = False
                for f in range(n_fields):
                    views[(f * n_lines + line) * VIEW_BYTES:(f * n_lines + line + 1) * VIEW_BYTES] = 0
    data = pa.py_buffer(block)
    fields = [pl.Series(pl.from_arrow(pa.Array.from_buffers(pa.string_view(), n_lines, [None, pa.py_buffer(views[f * n_lines * VIEW_BYTES:(f + 1) * n_lines * VIEW_BYTES]), data])))
              for f in range(n_fields)]
    return Split(fields, plain, starts, ends, found.unterminated)


def _is_utf8(block: bytes) -> bool:
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, pa.py_buffer(np.array([0, len(block)], np.int64)),
                                                     pa.py_buffer(block)]).validate(full=True)
        return True
    except pa.ArrowInvalid:
        return False
