"""Readers of the listening-log formats people have: each yields, for every input row, its number,
its raw text, and either the row's fields (canonical names) or the reason it is refused.

Formats:
- ``canonical``: CSV (header) or Parquet with columns timestamp, user_id, song_id and optionally
  device, artist, genre, language. Timestamps: ISO-8601 (a missing offset means UTC) or unix seconds.
- ``lastfm-1k``: ``userid-timestamp-artid-artname-traid-traname.tsv``: tab-separated, no header.
  A song is its track MBID, or "artist – track" where the MBID is empty. No device.
- ``spotify``: extended streaming history, ``Streaming_History_Audio_*.json`` (JSON arrays). ``ts``
  is when playback ended: start = ts - ms_played. ``platform`` becomes a device family. Podcast
  and audiobook rows are not songs (quarantined as such). One export is one user: ``username``
  where present, else the folder's name.
- ``listenbrainz``: listens dumps, one JSON listen a line; ``listened_at`` is the start (unix);
  a song is ``additional_info.recording_mbid``, or "artist – track". No device.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import polars as pl

from pipeline.ingest import field_rules
from pipeline.ingest.columns import FIELDS, column_mapping
from pipeline.ingest.field_rules import LogInputError
from pipeline.ingest.inputs import opened, whole

LASTFM_COLUMNS = 6
RAW_LIMIT = 500
WHOLE_FILE = 0  # the row number of a rejection of a whole file (its records could not be read, nor counted)

# A row is either (row number, raw text, fields dict) or (row number, raw text, reason).
Row = tuple[int, str, dict | None, str | None]


def parse_timestamp(value) -> datetime | None:
    """A timestamp in any format ``pipeline.ingest.field_rules`` accepts, before its window; None when it is none."""
    return field_rules.parse(value)[0]


def device_family(platform: str | None) -> str | None:
    """Spotify's free-text platform, as a small set of device families."""
    if not platform:
        return None
    p = platform.lower()
    for family, words in (
        ("tablet", ("ipad", "tablet")),
        ("mobile", ("android", "ios", "iphone", "mobile")),
        ("tv", ("tv", "cast", "chromecast", "roku", "xbox", "playstation", "ps4", "ps5", "console")),
        ("speaker", ("speaker", "sonos", "echo", "alexa", "google home", "homepod", "partner")),
        ("car", ("car", "auto")),
        ("web", ("web",)),
        ("desktop", ("windows", "os x", "osx", "macos", "mac os", "linux", "desktop")),
    ):
        if any(w in p for w in words):
            return family
    return "other"


# --- readers ----------------------------------------------------------------------------------

def whole_file_check(path: Path, head: bytes) -> None:
    """Refuse, naming the file, what would be misread line by line: UTF-16 text, lines ended by a lone CR."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LogInputError(f"{path} (whole file): UTF-16 text; convert it to UTF-8")
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    if b"\r" in first:
        raise LogInputError(f"{path} (whole file): lines end with a lone CR (classic Mac); convert them to LF or CRLF")


def lines(path) -> Iterator[tuple[int, str | None, str]]:
    """(row number from 1, decoded line or None if not UTF-8, raw text for the quarantine); a UTF-8 byte-order
    mark before the first line is dropped. ``path``: a file or a ``pipeline.ingest.inputs.LogFile`` (read as a stream)."""
    with opened(path) as fh:
        head = fh.read(1 << 16)
        whole_file_check(path, head)
        head += fh.readline()  # to the end of a line
        for i, raw in enumerate(itertools.chain(io.BytesIO(head), fh), start=1):
            raw = raw.rstrip(b"\r\n")
            if i == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield i, raw.decode("utf-8"), ""
            except UnicodeDecodeError:
                yield i, None, raw.decode("utf-8", errors="replace")


def text_line(i: int, line: str | None, bad: str) -> Row | None:
    """The refusal of a line that holds no record (not UTF-8, or blank), else None."""
    if line is None:
        return i, bad, None, "bad encoding (not UTF-8)"
    if not line.strip():
        return i, line, None, "empty line"
    return None


def _text_lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(row, text, None) for each non-empty UTF-8 line, or (row, raw text, reason) for the others."""
    for i, line, bad in lines(path):
        refused = text_line(i, line, bad)
        yield (i, refused[1], refused[3]) if refused else (i, line, None)


def _song_key(mbid: str | None, artist: str | None, track: str | None) -> str | None:
    if mbid and mbid.strip():
        return mbid.strip()
    if track and track.strip():
        return f"{(artist or '').strip()} – {track.strip()}"
    return None


def lastfm_row(i: int, line: str | None, bad: str = "") -> Row:
    """One line of a Last.fm-1K TSV (``line`` None when it is not UTF-8; ``bad`` its raw text then)."""
    refused = text_line(i, line, bad)
    if refused:
        return refused
    parts = line.split("\t")
    if len(parts) != LASTFM_COLUMNS:
        return i, line, None, f"wrong column count (expected {LASTFM_COLUMNS}, got {len(parts)})"
    user, ts, artid, artname, traid, traname = parts
    return i, line, {"timestamp": ts, "user_id": user, "device": None, "song_id": _song_key(traid, artname, traname),
                     "artist": artname or None, "genre": None, "language": None}, None


def csv_header(path: Path, header_line: str | None, columns: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """A canonical CSV's header (its first line) and which of its columns holds each field."""
    if header_line is None:
        raise LogInputError(f"{path}, row 1: the header is not UTF-8")
    header = [h.strip() for h in next(csv.reader([header_line]), [])]
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise LogInputError(f"{path}, row 1 (header): column(s) {', '.join(twice)} given twice; which one is meant is not guessed")
    return header, column_mapping(header, columns, f"{path}, row 1 (header)")


UNTERMINATED = ("unterminated quoted field (no closing quote within 131,072 bytes or before the end of the file): "
                "the row is read as its first line, and the next line starts the next row")


def unterminated_row(i: int, raw: bytes) -> Row:
    """The refusal of a CSV record whose quoted field never closes (``pipeline.ingest.line_split``)."""
    return i, raw.decode("utf-8", errors="replace"), None, UNTERMINATED


def csv_row(i: int, line: str | None, bad: str, header: list[str], mapping: Mapping[str, str]) -> Row:
    """One record of a canonical CSV (``pipeline.ingest.line_split``'s RFC 4180 record: a quoted field may hold line breaks)."""
    if line is None:
        return i, bad, None, "bad encoding (not UTF-8)"
    try:
        values = next(csv.reader([line]), [])
    except csv.Error as exc:
        return i, line, None, f"unreadable CSV row ({exc})"
    if len(values) != len(header):
        return i, line, None, f"wrong column count (expected {len(header)}, got {len(values)})"
    rec = dict(zip(header, values))
    return i, line, {f: (rec[mapping[f]] or None) if f in mapping else None for f in FIELDS}, None


def _read_canonical_parquet(path, columns: Mapping[str, str]) -> Iterator[Row]:
    try:
        frame = pl.read_parquet(whole(path))
    except Exception as exc:  # polars raises several kinds for a truncated file or one that is not Parquet
        raise LogInputError(f"{path} (whole file): not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})") from None
    mapping = column_mapping(frame.columns, columns, str(path))
    selected = frame.select([pl.col(source).alias(f) for f, source in mapping.items()])
    for i, row in enumerate(selected.iter_rows(named=True), start=1):
        # values as Parquet typed them: pipeline.ingest.field_rules decides (an integer id is its digits, a float or struct is refused)
        yield i, json.dumps(row, default=str)[:RAW_LIMIT], {f: row.get(f) for f in FIELDS}, None


def _read_spotify(path: Path) -> Iterator[Row]:
    data = path.read_bytes()
    whole_file_check(path, data[:2])
    try:
        records = json.loads(data.decode("utf-8-sig"), parse_int=field_rules.json_int)  # a byte-order mark is allowed
    except UnicodeDecodeError:
        yield WHOLE_FILE, "", None, "bad encoding (file is not UTF-8)"
        return
    except json.JSONDecodeError as exc:
        yield WHOLE_FILE, "", None, f"invalid JSON file ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        return
    if not isinstance(records, list):
        yield WHOLE_FILE, "", None, "not a Spotify streaming history (expected a JSON array)"
        return
    for i, rec in enumerate(records, start=1):
        raw = json.dumps(rec, ensure_ascii=False, default=repr)[:RAW_LIMIT]
        if not isinstance(rec, dict):
            yield i, raw, None, "not a JSON object"
            continue
        if not rec.get("spotify_track_uri"):
            if rec.get("spotify_episode_uri") or rec.get("episode_name"):
                yield i, raw, None, "not a song (podcast episode)"
            elif rec.get("audiobook_uri") or rec.get("audiobook_title"):
                yield i, raw, None, "not a song (audiobook)"
            else:
                yield i, raw, None, "missing song"
            continue
        end = parse_timestamp(rec.get("ts"))
        ms = rec.get("ms_played")
        if end is None:
            yield i, raw, None, f"unparsable timestamp (ts={field_rules.shown(rec.get('ts'))})"
            continue
        if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not math.isfinite(ms) or ms < 0:
            yield i, raw, None, f"bad ms_played ({field_rules.shown(ms)})"
            continue
        wrong = next((k for k in ("platform", "spotify_track_uri", "username", "master_metadata_album_artist_name")
                      if rec.get(k) is not None and not isinstance(rec[k], str)), None)
        if wrong:
            yield i, raw, None, f"{wrong} is not a string ({type(rec[wrong]).__name__})"
            continue
        try:
            start = end - timedelta(milliseconds=ms)
        except OverflowError:
            yield i, raw, None, f"bad ms_played ({field_rules.shown(ms)}: the start would be before year 1)"
            continue
        yield i, raw, {
            "timestamp": start,
            "user_id": rec.get("username") or path.parent.name,
            "device": device_family(rec.get("platform")),
            "song_id": rec["spotify_track_uri"],
            "artist": rec.get("master_metadata_album_artist_name"),
            "genre": None,
            "language": None,
        }, None


def _read_listenbrainz(path: Path) -> Iterator[Row]:
    for i, line, reason in _text_lines(path):
        if reason:
            yield i, line, None, reason
            continue
        try:
            rec = json.loads(line, parse_int=field_rules.json_int)
        except json.JSONDecodeError as exc:
            yield i, line, None, f"invalid JSON ({exc.msg})"
            continue
        if not isinstance(rec, dict):
            yield i, line, None, "not a JSON object"
            continue
        meta = rec.get("track_metadata") or {}
        info = meta.get("additional_info") or {} if isinstance(meta, dict) else {}
        wrong = ("track_metadata" if not isinstance(meta, dict) else "track_metadata.additional_info" if not isinstance(info, dict)
                 else next((f"track_metadata.{k}" for k in ("artist_name", "track_name") if meta.get(k) is not None
                            and not isinstance(meta[k], str)), None)
                 or ("track_metadata.additional_info.recording_mbid" if info.get("recording_mbid") is not None
                     and not isinstance(info["recording_mbid"], str) else None))
        if wrong:
            yield i, line, None, f"{wrong} has the wrong JSON type (an object, or strings, expected)"
            continue
        yield i, line, {
            "timestamp": rec.get("listened_at"),
            "user_id": rec.get("user_name"),
            "device": None,
            "song_id": _song_key(info.get("recording_mbid"), meta.get("artist_name"), meta.get("track_name")),
            "artist": meta.get("artist_name"),
            "genre": None,
            "language": None,
        }, None


def reader(fmt: str, path: Path, columns: Mapping[str, str] | None = None) -> Iterator[Row]:
    """The rows of one file of a log in a record format (Spotify, ListenBrainz, canonical Parquet). The line
    formats (Last.fm TSV, canonical CSV) are read in blocks by ``pipeline.ingest.columnar`` with the row functions above."""
    if fmt == "canonical" and path.suffix.lower() == ".parquet":
        return _read_canonical_parquet(path, columns or {})
    return {"spotify": _read_spotify, "listenbrainz": _read_listenbrainz}[fmt](path)
