"""Real listening logs in, nothing lost: read a log in one of the formats people have, validate
every row, and write the accepted events (canonical schema) and the rejected rows (quarantine,
with file, row and reason). Accepted + quarantined = read, for every file.

Formats: see ``pipeline.log_formats``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline import field_rules
from pipeline.contract import EVENT_SCHEMA, QUARANTINE_SCHEMA
from pipeline.io import atomic_path
from pipeline.log_formats import FIELDS, RAW_LIMIT, WHOLE_FILE, LogInputError, reader

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

    def as_dict(self) -> dict:
        return {"read": self.read, "accepted": self.accepted, "quarantined": self.quarantined,
                "reasons": dict(self.reasons), "files": self.files, "has_device": self.has_device,
                "files_rejected": self.files_rejected}


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


def detect_format(files: list[Path]) -> str:
    """The format from file names, refusing to guess when they are unknown or mixed."""
    def one(f: Path) -> str | None:
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


# --- timestamps -------------------------------------------------------------------------------

def pseudonymise(user: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}\x00{user}".encode()).hexdigest()[:16]


# --- the import -------------------------------------------------------------------------------

def import_log(
    pattern: str, fmt: str, events_path: Path, quarantine_path: Path, salt: str = "", log=None,
    window: field_rules.Window | None = None, columns: dict[str, str] | None = None,
) -> ImportReport:
    """Read every file, write accepted events (canonical schema) and the quarantine; return the counts.

    Every field is checked by ``pipeline.field_rules`` (timestamps inside ``window``). A file whose records
    cannot be read at all is one quarantine row (row 0) and is listed in ``files_rejected``: its records are
    not counted, so the reconcile check fails rather than balance without them."""
    window = window or field_rules.Window()
    files = resolve_files(pattern)
    if fmt == "auto":
        fmt = detect_format(files)
    if fmt not in FORMATS:
        raise LogInputError(f"unknown format {fmt!r}; supported: {', '.join(FORMATS)} (or 'auto')")
    report = ImportReport()
    cols: dict[str, list] = {f: [] for f in FIELDS}
    order: list[tuple[int, int]] = []
    quarantine: dict[str, list] = {k: [] for k in QUARANTINE_SCHEMA}
    pseudonyms: dict[str, str] = {}

    def reject(name: str, row: int, raw: str, reason: str) -> None:
        quarantine["file"].append(name)
        quarantine["row"].append(row)
        quarantine["reason"].append(reason)
        quarantine["raw"].append(raw[:RAW_LIMIT])
        report.reasons[reason.split(" (")[0]] += 1

    names = shown_names(files, salt)
    try:
        _read_all(files, names, fmt, window, salt, report, cols, order, reject, pseudonyms, log, columns or {})
    except LogInputError as exc:  # its message names a file: as pseudonymised as everything else
        message = str(exc)
        for path, name in zip(files, names):
            message = message.replace(str(path), name)
        raise LogInputError(message) from None


    events = pl.DataFrame(cols, schema=EVENT_SCHEMA).with_columns(
        pl.Series("_file", [o[0] for o in order], pl.Int64), pl.Series("_row", [o[1] for o in order], pl.Int64)
    )
    duplicate = ~events.select(pl.struct(list(FIELDS)).is_first_distinct()).to_series()
    if duplicate.any():
        dups = events.filter(duplicate)
        for rec in dups.iter_rows(named=True):
            f, r = rec.pop("_file"), rec.pop("_row")
            reject(names[f], r, json.dumps(rec, default=str), "exact duplicate of an earlier row")
            report.files[names[f]]["accepted"] -= 1
            report.files[names[f]]["quarantined"] += 1
        events = events.filter(~duplicate)
    if events.is_empty():
        why = ", ".join(f"{n} rows: {r}" for r, n in report.reasons.most_common(3)) if report.reasons else "the input is empty"
        raise LogInputError(f"no usable events in {len(files)} file(s) at {pattern!r} ({why})")
    events = events.drop("_file", "_row")  # input order (file, then row) is kept: ties stay stable downstream
    report.read = sum(c["read"] for c in report.files.values())
    report.accepted = events.height
    report.quarantined = len(quarantine["file"])
    report.has_device = events["device"].is_not_null().any()
    with atomic_path(events_path) as tmp:
        events.write_parquet(tmp)
    with atomic_path(quarantine_path) as tmp:
        pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA).write_parquet(tmp)
    return report


WITHHELD = "(withheld: the log is pseudonymised)"


def shown_names(files: list[Path], salt: str) -> list[str]:
    """How each file is named in the quarantine and the summary: its path, or, for a pseudonymised log, the
    folders below the input's root pseudonymised too (a Spotify export's folder is its listener's name)."""
    if not salt:
        return [str(f) for f in files]
    root = Path(os.path.commonpath([str(f.parent) for f in files])) if len(files) > 1 else files[0].parent.parent
    return [str(root.joinpath(*[pseudonymise(part, salt) for part in f.parent.relative_to(root).parts], f.name)) for f in files]


def _read_all(files, names, fmt, window, salt, report, cols, order, reject, pseudonyms, log, columns) -> None:
    """Every row of every file, accepted into ``cols`` or rejected with its reason."""
    for file_no, (path, name) in enumerate(zip(files, names)):
        counts = {"read": 0, "accepted": 0, "quarantined": 0}
        for row, raw, rec, reason in reader(fmt, path, columns):
            counts["read"] += 1
            if rec is not None:
                rec, reason = field_rules.event(rec, window)
            if reason:
                reject(name, row, WITHHELD if salt else raw, reason)
                counts["quarantined"] += 1
                if row == WHOLE_FILE:
                    report.files_rejected[name] = reason
                continue
            if salt:
                rec["user_id"] = pseudonyms.setdefault(rec["user_id"], pseudonymise(rec["user_id"], salt))
            for f in FIELDS:
                cols[f].append(rec[f])
            order.append((file_no, row))
            counts["accepted"] += 1
        report.files[name] = counts
        if log:
            log(f"{path.name}: read {counts['read']:,}, accepted {counts['accepted']:,}, quarantined {counts['quarantined']:,}")

