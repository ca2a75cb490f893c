"""What a stage wrote, recorded beside it and checked before another stage reads it.

A materialization's folder gets ``manifest.json`` when it is complete: every file in it (subfolders too) with its
size and digest. A reader verifies the folder against it first, so a file cut short, overwritten or removed after
it was written fails the reading stage with the file and what differs, instead of being read as if it were whole
(a cut walk file once trained half a pass without a word). Folders written before manifests existed have none and
are read unverified (``verify`` says so).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.io import read_json, write_json

MANIFEST = "manifest.json"
CHUNK = 1 << 24


class IntegrityError(ValueError):
    """A file of a materialization differs from what its stage wrote."""


def digest(path: Path) -> str:
    """SHA-1 of a file (a check against damage, not against an adversary: the fastest of hashlib's here, ~1.9 GB/s)."""
    h = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    """The folder's files, recursively, but for the manifest and hidden files (temporary names, probes)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def write_manifest(folder: Path | str) -> dict:
    """Record every file of ``folder`` (size and digest) in its manifest; returns {"files": n, "bytes": total}."""
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha1": digest(p)} for p in _files(folder)}
    write_json(folder / MANIFEST, {"files": files})
    return {"files": len(files), "bytes": sum(f["bytes"] for f in files.values())}


def verify(folder: Path | str) -> int | None:
    """Check ``folder`` against its manifest: the number of files verified, or None when it has no manifest. Raises
    ``IntegrityError`` naming the first file that is missing, of another size or of other content."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        return None
    try:
        recorded = read_json(folder / MANIFEST)["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise IntegrityError(f"{folder / MANIFEST}: unreadable ({e})") from None
    for name, want in recorded.items():
        path = folder / name
        if not path.is_file():
            raise IntegrityError(f"{path}: missing (its stage wrote {want['bytes']:,} bytes)")
        size = path.stat().st_size
        if size != want["bytes"]:
            raise IntegrityError(f"{path}: {size:,} bytes, but its stage wrote {want['bytes']:,} "
                                 f"({'cut short' if size < want['bytes'] else 'grown'} since)")
        if digest(path) != want["sha1"]:
            raise IntegrityError(f"{path}: its content differs from what its stage wrote (same size, other digest)")
    return len(recorded)
