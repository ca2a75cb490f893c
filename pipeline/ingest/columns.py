"""Which column of a canonical log holds which field: the canonical names, their usual aliases in any
case, or the source's ``columns`` setting; two candidates for one field are refused, not guessed."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.contract import EVENT_SCHEMA
from pipeline.ingest.field_rules import LogInputError

FIELDS = tuple(EVENT_SCHEMA)

# The names a canonical file's columns may have, compared without case; the `columns` setting names any other.
ALIASES = {
    "timestamp": ("timestamp", "ts", "time", "played_at", "listened_at", "datetime"),
    "user_id": ("user_id", "user", "userid", "user_name", "username", "listener", "listener_id"),
    "song_id": ("song_id", "song", "track_id", "trackid", "track", "recording_id", "recording_mbid"),
    "device": ("device", "device_type", "platform"),
    "artist": ("artist", "artist_name"),
    "genre": ("genre",),
    "language": ("language", "lang"),
}
REQUIRED = ("timestamp", "user_id", "song_id")


def column_mapping(header: list[str], columns: Mapping[str, str], where: str) -> dict[str, str]:
    """Which header column holds each canonical field: as ``columns`` says ({field: column}), else the one
    column whose name is an accepted alias. Two candidates for one field are refused, not guessed."""
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise LogInputError(f"the source's `columns` setting names unknown field(s) {', '.join(unknown)}; the fields are {', '.join(FIELDS)}")
    by_source: dict[str, list[str]] = {}
    for field_name, source in columns.items():
        by_source.setdefault(source, []).append(field_name)
    twice = {source: names for source, names in by_source.items() if len(names) > 1}
    if twice:
        source, names = next(iter(twice.items()))
        raise LogInputError(f"the source's `columns` setting maps column {source!r} to {' and '.join(names)}; one column "
                            f"holds one field: map each field to its own column")
    mapping: dict[str, str] = {}
    for field_name, source in columns.items():
        if source not in header:
            raise LogInputError(f"{where}: the `columns` setting maps {field_name} to {source!r}, which the header lacks "
                                f"(it has {', '.join(header)})")
        mapping[field_name] = source
    for field_name in FIELDS:
        if field_name in mapping:
            continue
        found = [h for h in header if h.lower() in ALIASES[field_name] and h not in mapping.values()]
        if len(found) > 1:
            raise LogInputError(f"{where}: columns {', '.join(found)} could each be {field_name}; name the one meant in the "
                                f"source's `columns` setting (for example {{{field_name}: {found[0]}}})")
        if found:
            mapping[field_name] = found[0]
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        accepted = "; ".join(f"{f}: {', '.join(ALIASES[f])}" for f in missing)
        raise LogInputError(f"{where}: missing column(s) {', '.join(missing)}; the header has {', '.join(header) or 'nothing'}; "
                            f"accepted names (any case) are {accepted}; or map yours with the source's `columns` setting")
    return mapping


