"""Files that are either complete or absent.

Every stage writes to a temporary name beside the target and renames it into place, so that a
stage killed midway never leaves a half-written file that the next run would take for complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``target``, on error remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def staged_folder(target: Path | str) -> Iterator[Path]:
    """Yield an empty folder beside ``target`` for its parts; on success it replaces ``target`` (a file or a folder)
    whole, on error it is removed: a dataset appears complete or not at all."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.parts")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def dataset_parts(path: Path | str, suffix: str = "") -> list[Path]:
    """The files of an output that is one file or a folder of parts (a ``dataset`` of the contract, a walk pass), in
    the order its content runs: the file itself, or the folder's files (ending in ``suffix``) by name, hidden ones
    (``.``, ``_``: a writer's staging and markers) left out."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    parts = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(suffix) and not p.name.startswith((".", "_")))
    if not parts:
        raise FileNotFoundError(f"{path}: a dataset folder without parts{f' ({suffix})' if suffix else ''}")
    return parts


def parquet_parts(path: Path | str) -> list[Path]:
    """The Parquet files of a table that is one file or a folder of parts, in the order its rows run."""
    return dataset_parts(path, ".parquet")


def write_json(path: Path | str, obj: Any) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default))
    return Path(path)


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text())


def save_npy(path: Path | str, array: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    return Path(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_home() -> Path:
    """Where local state lives unless told otherwise: ``$LATENT_HOME`` or ``<project>/.data``."""
    return Path(os.environ.get("LATENT_HOME", PROJECT_ROOT / ".data")).resolve()


def default_data_dir() -> Path:
    """Where the stages write their files: ``$LATENT_DATA_DIR`` or ``<home>/store``."""
    return Path(os.environ.get("LATENT_DATA_DIR", default_home() / "store")).resolve()


def file_digest(path: Path | str, chunk: int = 1 << 24) -> str:
    """The first 16 hex digits of a file's SHA-256 (read a chunk at a time); of a dataset folder, of its parts' names
    and bytes in order."""
    digest = hashlib.sha256()
    parts = dataset_parts(path)
    for part in parts:
        if len(parts) > 1 or part != Path(path):
            digest.update(part.name.encode())
        with open(part, "rb") as fh:
            while block := fh.read(chunk):
                digest.update(block)
    return digest.hexdigest()[:16]
