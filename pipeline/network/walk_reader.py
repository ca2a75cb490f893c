"""A walk corpus file (one walk a line, vertex ids separated by single spaces, as ``pipeline.network.walks`` writes it) read
back as int32 walk matrices, a block of walks at a time, by a numba pass over the bytes. A pass of walks is one file
(the local engine's) or a folder of parts, each whole lines, read in name order (Spark's tasks each write one):
``walk_parts`` lists them, ``one_walk_file`` joins them for a reader that takes one file alone (gensim).

The text is the one corpus format on disk: gensim and Spark read it as it is, and this reader gives the numba
trainer its int32 walks at 200-300 MB of text a second (``benchmarks/trainers.py`` prints it beside the training
rate): about 1 % of the training's own time (which reads 2-4 MB of text a second), so the walks are not stored
twice."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np

from pipeline.io import dataset_parts

CHUNK_BYTES = 1 << 24  # text read at a time


class WalkFileError(ValueError):
    """A corpus file that is not one walk a line of vertex ids."""


@numba.njit(cache=True)
def _shape(buf):
    """(lines, most ids on a line, offset of the first bad byte or -1) of whole lines of text; an id of more than
    ten digits is bad (no int32 vertex has one)."""
    lines = longest = ids = digits = 0
    for i in range(len(buf)):
        c = buf[i]
        if c >= 48 and c <= 57:
            if digits == 0:
                ids += 1
            digits += 1
            if digits > 10:
                return lines, longest, i
        elif c == 32:
            digits = 0
        elif c == 10:
            lines += 1
            longest = max(longest, ids)
            ids = digits = 0
        else:
            return lines, longest, i
    return lines, longest, -1


@numba.njit(cache=True)
def _parse(buf, out, n_vertices):
    """Fill ``out`` (lines x width, -1 past a walk's end) from whole lines of ids; returns the first line with an id of
    ``n_vertices`` or more (then ``out`` is not complete), or -1."""
    row = col = 0
    value = 0
    in_id = False
    for i in range(len(buf)):
        c = buf[i]
        if c >= 48 and c <= 57:
            value = value * 10 + (c - 48)
            in_id = True
        else:
            if in_id:
                if value >= n_vertices:
                    return row
                out[row, col] = value
                col += 1
                value = 0
                in_id = False
            if c == 10:
                for q in range(col, out.shape[1]):
                    out[row, q] = -1
                row += 1
                col = 0
    return -1


def walk_parts(path: Path | str) -> list[Path]:
    """The files of a pass of walks, in the order its walks run: the file, or a folder's ``*.txt`` parts by name."""
    return dataset_parts(path, ".txt")


@contextmanager
def one_walk_file(path: Path | str, scratch: Path | str | None = None) -> Iterator[Path]:
    """``path`` itself when it is one file; a folder of parts joined (in order) into a temporary file under ``scratch``
    (the system's temporary folder when None), removed afterwards."""
    parts = walk_parts(path)
    if parts == [Path(path)]:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix=".walks-", dir=scratch) as folder:
        joined = Path(folder) / Path(path).name
        with open(joined, "wb") as fh:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, fh, CHUNK_BYTES)
        yield joined


def read_walk_blocks(path: Path | str, n_vertices: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
    """The walks of ``path`` (a file or a folder of parts) in order, as int32 matrices (one walk a row, -1 past a
    walk's end) of about ``chunk_bytes`` of text each. A byte that is not a digit, a space or a newline, an
    unterminated last line (of any part) or an id of ``n_vertices`` or more is refused, naming the file and the line."""
    for part in walk_parts(path):
        yield from _file_blocks(part, n_vertices, chunk_bytes)


def _file_blocks(path: Path, n_vertices: int, chunk_bytes: int) -> Iterator[np.ndarray]:
    line_base = 0
    rest = b""
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk_bytes)
            text = rest + data
            if not data:
                if text:
                    raise WalkFileError(f"{path}: line {line_base + 1} has no newline at its end (a truncated walk file)")
                return
            cut = text.rfind(b"\n") + 1
            whole, rest = text[:cut], text[cut:]
            if not whole:
                continue
            buf = np.frombuffer(whole, np.uint8)
            lines, width, bad = _shape(buf)
            if bad >= 0:
                raise WalkFileError(f"{path}: line {line_base + lines + 1}: byte {whole[bad:bad + 1]!r} is not part of a walk "
                                    "(vertex ids separated by spaces)")
            out = np.empty((lines, max(width, 1)), np.int32)
            bad_line = _parse(buf, out, n_vertices)
            if bad_line >= 0:
                raise WalkFileError(f"{path}: line {line_base + bad_line + 1}: a vertex id beyond the {n_vertices:,} vertices")
            line_base += lines
            yield out


def count_walk_words(path: Path | str, n_vertices: int) -> int:
    """The words of a walk file, every line checked as ``read_walk_blocks`` checks it (for a trainer that reads the
    file itself: gensim)."""
    return sum(int((walks >= 0).sum()) for walks in read_walk_blocks(path, n_vertices))


def check_walk_words(path: Path | str, found: int, recorded: int) -> None:
    """Refuse a walk file whose words differ from what the walk index recorded for it."""
    if found != recorded:
        raise WalkFileError(f"{path}: {found:,} words, but the walk index records {recorded:,} (a truncated or replaced walk file)")
