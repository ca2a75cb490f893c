"""Lines and fields of a block of text, split by one numba pass into Arrow string views (no copy of the text).

The Python face is :func:`split`; the kernel is :func:`_split_kernel`. A line is what iterating the
file in binary gives, with its trailing ``\\r`` and ``\\n`` removed (the per-row readers' definition); a
line's fields are its pieces between separators. A line is *plain* when it has exactly the expected
number of fields and, for CSV, no quote, carriage return or NUL (characters the ``csv`` module treats
specially): only plain lines are split here; the others are left to the per-row reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import pyarrow as pa

VIEW_BYTES = 16  # an Arrow string view: length, then 12 inline bytes, or a 4-byte prefix, buffer index and offset
INLINE = 12
NEWLINE, CR, QUOTE, NUL = 10, 13, 34, 0


@dataclass
class Split:
    """``fields[k]``: the k-th field of every line (empty where the line is not plain); ``plain``: which lines
    were split; ``starts``/``ends``: each line's bytes in the block (for the lines left to the per-row reader)."""

    fields: list[pl.Series]
    plain: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


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


@numba.njit(cache=True, nogil=True)
def _split_kernel(buf, sep, n_fields, csv, views, words, plain, starts, ends):
    """Fill ``views`` (flat: field-major, VIEW_BYTES per line), ``plain``, ``starts``, ``ends``; all start zeroed."""
    n, n_lines = buf.shape[0], plain.shape[0]
    stride = n_lines * VIEW_BYTES
    cuts = np.empty(n_fields + 1, np.int64)  # where each field starts (a separator's position + 1)
    line, i = 0, 0
    while i < n:
        j, f, good, first_cr = i, 0, True, n
        cuts[0] = i
        while j < n:
            c = buf[j]
            if c == NEWLINE:
                break
            if c == sep:
                f += 1
                if f < n_fields:
                    cuts[f] = j + 1
            elif c == CR:
                if first_cr == n:
                    first_cr = j
            elif csv and (c == QUOTE or c == NUL):
                good = False
            j += 1
        end = j
        while end > i and buf[end - 1] == CR:
            end -= 1
        starts[line], ends[line] = i, end
        if csv and first_cr < end:  # a carriage return inside the line: the csv module's to judge
            good = False
        if good and f == n_fields - 1:
            cuts[n_fields] = end + 1
            for g in range(n_fields):
                _put(views, words, g * stride + line * VIEW_BYTES, buf, cuts[g], cuts[g + 1] - 1)
            plain[line] = True
        line += 1
        i = j + 1


def split(block: bytes | memoryview, sep: str, n_fields: int, csv: bool, n_lines: int | None = None) -> Split:
    """Every line of ``block`` (whole lines; the last may lack its newline) split into ``n_fields`` fields;
    ``n_lines``: how many lines it has, when the caller has counted them."""
    if n_lines is None:
        n_lines = bytes(block).count(b"\n") + (1 if len(block) and block[-1] != NEWLINE else 0)
    buf = np.frombuffer(block, np.uint8)
    views = np.zeros(n_fields * n_lines * VIEW_BYTES, np.uint8)
    plain = np.zeros(n_lines, np.bool_)
    starts, ends = np.zeros(n_lines, np.int64), np.zeros(n_lines, np.int64)
    if n_lines:
        _split_kernel(buf, ord(sep), n_fields, csv, views, views.view(np.uint32), plain, starts, ends)
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
    return Split(fields, plain, starts, ends)


def _is_utf8(block: bytes) -> bool:
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, pa.py_buffer(np.array([0, len(block)], np.int64)),
                                                     pa.py_buffer(block)]).validate(full=True)
        return True
    except pa.ArrowInvalid:
        return False
