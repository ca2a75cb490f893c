"""The local Dagster instance, opened so that two commands started together in a fresh ``$DAGSTER_HOME`` cannot
both create its SQLite tables (one then died with "table runs already exists", 1 run in 8 here)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from filelock import FileLock

LOCK = ".instance-create.lock"


class HomeNotWritable(SystemExit):
    """The Dagster home cannot be written: a command exits with this message, not a traceback."""


def check_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if need be and write a probe file in it; a folder that refuses either (a read-only disk, no
    permission, a full disk) raises ``HomeNotWritable`` naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".writable-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise HomeNotWritable(f"{what} {folder} cannot be written ({e.strerror}): LATENT_HOME (or DAGSTER_HOME) must name a "
                              "folder you can write, on a disk with space (LATENT_HOME=/path/to/data make demo)") from None


def local_instance() -> dg.DagsterInstance:
    """``$DAGSTER_HOME``'s instance, its storages created (or found) under a lock held by one process at a time."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.get()  # (Dagster's own message says what is missing)
    check_writable(Path(home), "the Dagster home")
    with FileLock(str(Path(home) / LOCK)):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # the run, event log and schedule storages, created here if new
        instance.event_log_storage.get_asset_keys()
        instance.all_instigator_state()
    return instance
