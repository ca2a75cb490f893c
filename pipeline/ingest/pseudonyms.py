"""Pseudonymised logs: user ids replaced by a salted hash, the salt read from a named environment variable (never
from config, which Dagster stores) and recorded only as a fingerprint, and file names below the log's root
pseudonymised too (a Spotify export's folder is its listener's name)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl

from pipeline.ingest.field_rules import LogInputError


def pseudonymise(user: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}\x00{user}".encode()).hexdigest()[:16]


def salt_from(variable: str) -> str:
    """The salt in the environment variable ``variable`` ("" names none: no pseudonymisation). A named variable
    that is unset or empty is refused: the log would otherwise be imported with its raw ids."""
    if not variable:
        return ""
    salt = os.environ.get(variable, "")
    if not salt:
        raise LogInputError(f"pseudonymise_salt_env names {variable}, which is not set (or empty) in this process's "
                            "environment: set it, or unset pseudonymise_salt_env to import the ids as they are")
    return salt


def salt_fingerprint(salt: str) -> str:
    """What is recorded of a salt: enough to tell two salts apart, slow to try guesses against (PBKDF2, 200,000 rounds)."""
    return hashlib.pbkdf2_hmac("sha256", salt.encode(), b"latent-listening salt fingerprint", 200_000).hex()[:12]


# --- the import -------------------------------------------------------------------------------


def pseudonymised(events: pl.DataFrame, salt: str, pseudonyms: dict[str, str]) -> pl.DataFrame:
    """``events`` with each user id replaced by its salted hash (``pseudonyms``: the ones made so far)."""
    if not salt or events.is_empty():
        return events
    users = {u: pseudonyms.setdefault(u, pseudonymise(u, salt)) for u in events["user_id"].unique()}
    return events.with_columns(pl.col("user_id").replace_strict(users, return_dtype=pl.String))



WITHHELD = "(withheld: the log is pseudonymised)"


def shown_names(files: list, salt: str) -> list[str]:
    """How each file is named in the quarantine and the summary: its path (an archive member's inside the archive's),
    or, for a pseudonymised log, the folders below the input's root pseudonymised too (a Spotify export's folder is
    its listener's name)."""
    if not salt:
        return [str(f) for f in files]
    files = [Path(str(f)) for f in files]
    root = Path(os.path.commonpath([str(f.parent) for f in files])) if len(files) > 1 else files[0].parent.parent
    return [str(root.joinpath(*[pseudonymise(part, salt) for part in f.parent.relative_to(root).parts], f.name)) for f in files]
