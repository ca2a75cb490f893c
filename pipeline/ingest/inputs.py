"""A log's files as they arrive: plain, compressed (gzip, zstd, bz2, xz) or archived (zip, tar, compressed tar).

``log_files`` turns the files on disk (``pipeline.ingest.importers.resolve_files``) into ``LogFile``s, one per file or
archive member, each read as a stream of its decompressed bytes, so memory holds a block, never the file. A
compressed file's format is told from its name without the compression's suffix (``log.csv.gz`` is a CSV); the
compression is told from the suffix and checked against the file's first bytes (a ``.gz`` that is not gzip is
refused, naming the file), and a file whose first bytes are gzip, zstd, xz or zip (which no UTF-8 text begins with)
is read as such whatever its name. An archive's members are read one by one; the companions that exports ship beside
their listens (read-me files, Last.fm-1K's user profiles, Spotify's video history, ListenBrainz's feedback) are
listed as skipped, never read as events and never dropped silently.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pipeline.ingest.field_rules import LogInputError

MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd", "xz": b"\xfd7zXZ\x00", "bz2": b"BZh", "zip": b"PK\x03\x04"}
SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2", ".xz": "xz"}
SNIFFED = ("gzip", "zstd", "xz", "zip")  # bytes no UTF-8 text starts with: read as such whatever the name
TAR_SUFFIXES = (".tar", ".tgz", ".tbz2", ".txz")
TAR_COMPRESSION = {".tgz": "gzip", ".tbz2": "bz2", ".txz": "xz"}
# Files that exports ship beside the listens: skipped (and listed), never read as events.
COMPANIONS = ("readme", "userid-profile.tsv", "streaming_history_video", "feedback.jsonl", "pinned_recording.jsonl",
              "user.json")
COMPANION_SUFFIXES = (".pdf", ".html", ".htm")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tbz2", ".txz")


def _open_compressed(raw: BinaryIO, compression: str | None) -> BinaryIO:
    if compression is None:
        return raw
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw, closefd=False, read_across_frames=True)
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw)
    return {"bz2": bz2.BZ2File, "xz": lzma.LZMAFile}[compression](raw)  # none of them closes ``raw``


class _Reading(io.RawIOBase):
    """A decompressing stream whose errors name the file: a corrupt or truncated archive is a ``LogInputError``."""

    def __init__(self, stream: BinaryIO, shown: str, compression: str | None, closing=()):
        self.stream, self.shown, self.compression, self.closing = stream, shown, compression, closing

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.stream.read(len(buffer))
        except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError, ValueError) as exc:
            raise LogInputError(f"{self.shown} (whole file): cannot be read as {self.compression or 'a file'} "
                                f"({type(exc).__name__}: {str(exc)[:200]})") from None
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        for thing in dict.fromkeys((self.stream, *self.closing)):  # each once
            thing.close()
        super().close()


@dataclass(frozen=True)
class LogFile:
    """One file of a log: ``path`` on disk, or ``member`` of the archive at ``path``; ``compression`` of its bytes."""

    path: Path
    member: str = ""
    compression: str | None = None
    archive: str | None = None  # "zip" or "tar" (with ``archive_compression``)
    archive_compression: str | None = None

    @property
    def shown(self) -> Path:
        """How the file is named to people: its path, or the member's path inside the archive's."""
        return self.path / self.member if self.member else self.path

    @property
    def name(self) -> str:
        """The name that tells the format: without the compression's suffix."""
        name = PurePosixPath(self.member).name if self.member else self.path.name
        return name[: -len(_compression_suffix(name))] if self.compression and _compression_suffix(name) else name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def parent(self) -> Path:
        return self.shown.parent

    @property
    def plain(self) -> bool:
        """A file on disk read as it is (it can be read in byte ranges)."""
        return not (self.member or self.compression)

    def __str__(self) -> str:
        return str(self.shown)

    def open(self) -> BinaryIO:
        """Its decompressed bytes, as a stream."""
        if self.plain:
            return open(self.path, "rb")
        if self.archive == "zip":
            archive = zipfile.ZipFile(self.path)
            member = archive.open(self.member)
            return self._reading(member, member, archive)
        if self.archive == "tar":
            disk = open(self.path, "rb")
            raw = _open_compressed(disk, self.archive_compression)
            archive = tarfile.open(fileobj=raw, mode="r|")
            for info in archive:
                if info.name == self.member:
                    member = archive.extractfile(info)
                    return self._reading(member, archive, raw, disk)
            for thing in (archive, raw, disk):
                thing.close()
            raise LogInputError(f"{self} (whole file): no longer in its archive")
        disk = open(self.path, "rb")
        return self._reading(disk, disk)

    def _reading(self, raw: BinaryIO, *closing) -> BinaryIO:
        """``raw`` decompressed (``compression``), buffered; closing it closes the decompressor and ``closing``."""
        stream = _open_compressed(raw, self.compression)
        return io.BufferedReader(_Reading(stream, str(self), self.compression, closing), 1 << 20)

    def read_bytes(self) -> bytes:
        with self.open() as fh:
            return fh.read()


def _compression_suffix(name: str) -> str:
    """The compression suffix ``name`` ends with, as written ("" for none)."""
    return next((name[-len(s):] for s in SUFFIXES if name.lower().endswith(s)), "")


def _sniffed(head: bytes) -> str | None:
    return next((kind for kind in SNIFFED if head.startswith(MAGIC[kind])), None)


def is_companion(name: str) -> bool:
    """A file that exports ship beside the listens (or a system's hidden file), by its name."""
    lower = name.lower()
    base = PurePosixPath(lower).name
    return (base.startswith(COMPANIONS) or base.endswith(COMPANION_SUFFIXES) or base.startswith(".")
            or "__macosx/" in f"{lower}/")


def log_files(files: list[Path]) -> tuple[list[LogFile], list[str]]:
    """The ``LogFile``s of ``files`` (archives expanded into their members, in their order), and the skipped
    companions, by name. A compression suffix that the file's bytes contradict is refused, naming the file."""
    out, skipped = [], []
    for path in files:
        if is_companion(str(path)):
            skipped.append(str(path))
            continue
        with open(path, "rb") as fh:
            head = fh.read(8)
        lower = path.name.lower()
        claimed = SUFFIXES.get(_compression_suffix(lower))
        sniffed = _sniffed(head)
        if lower.endswith(".zip") or sniffed == "zip":
            found, passed = _zip_members(path)
        elif lower.endswith(TAR_SUFFIXES) or lower.removesuffix(_compression_suffix(lower)).endswith(".tar"):
            found, passed = _tar_members(path, claimed or TAR_COMPRESSION.get(PurePosixPath(lower).suffix))
        else:
            if claimed and not head.startswith(MAGIC[claimed]):
                raise LogInputError(f"{path} (whole file): named as {claimed}-compressed, but its bytes are not {claimed}")
            found, passed = [LogFile(path, compression=claimed or sniffed)], []
        out += found
        skipped += passed
    return out, skipped


def _member(path: Path, name: str, archive: str, archive_compression: str | None = None) -> LogFile:
    compression = SUFFIXES.get(_compression_suffix(name.lower()))
    return LogFile(path, name, compression, archive, archive_compression)


def _zip_members(path: Path) -> tuple[list[LogFile], list[str]]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except zipfile.BadZipFile as exc:
        raise LogInputError(f"{path} (whole file): not a readable zip archive ({exc})") from None
    return _sorted_members(path, names, "zip")


def _tar_members(path: Path, compression: str | None) -> tuple[list[LogFile], list[str]]:
    try:
        with open(path, "rb") as disk, _open_compressed(disk, compression) as raw, tarfile.open(fileobj=raw, mode="r|") as archive:
            names = [info.name for info in archive if info.isfile()]
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError) as exc:
        raise LogInputError(f"{path} (whole file): not a readable tar archive ({type(exc).__name__}: {exc})") from None
    return _sorted_members(path, names, "tar", compression)


def _sorted_members(path: Path, names: list[str], archive: str, compression: str | None = None) -> tuple[list[LogFile], list[str]]:
    """An archive's members in name order (as a folder's files are), less its companions (returned by name)."""
    kept, skipped = [], []
    for name in sorted(names):
        if is_companion(name):
            skipped.append(str(path / name))
        elif name.lower().removesuffix(_compression_suffix(name.lower())).endswith(ARCHIVE_SUFFIXES):
            raise LogInputError(f"{path / name} (whole file): an archive inside an archive; extract the outer one first")
        else:
            kept.append(_member(path, name, archive, compression))
    return kept, skipped


@contextmanager
def opened(file: LogFile | Path) -> Iterator[BinaryIO]:
    """A file's decompressed bytes (a plain path is opened as it is)."""
    fh = file.open() if isinstance(file, LogFile) else open(file, "rb")
    try:
        yield fh
    finally:
        fh.close()


def whole(file: LogFile | Path) -> Path | io.BytesIO:
    """A file for a reader that seeks (Parquet): its path on disk, or, compressed or archived, its bytes in memory."""
    if isinstance(file, LogFile):
        return file.path if file.plain else io.BytesIO(file.read_bytes())
    return file
