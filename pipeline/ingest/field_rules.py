"""The rule for each field of a listening event, the same for every log format: a value that breaks
one is refused with the rule it breaks, never coerced.

- ``timestamp``: ISO-8601 with date separators (``2016-06-01``, ``2016-06-01T12:00:00+08:00``; no
  offset means UTC; a typed date, such as a Parquet Date, is its midnight UTC, as its text would be), or unix
  seconds (a number, or a string of digits); it must lie inside the
  plausibility window, by default from 2000-01-01 to a day after the import. A compact date such
  as ``20160601`` is digits, so it is read as unix seconds (1970-08-22) and refused by the window,
  not guessed.
- ``user_id``, ``song_id``: a string (an integer id is taken as its digits; a float, a boolean, a
  list or an object is refused), non-empty after stripping white space and a byte-order mark, with
  no control character (NUL, line breaks, ...) and no unpaired surrogate: what cannot be real text. Format
  characters people write in names (zero-width joiners in Persian or Indic names, direction marks, soft
  hyphens) are kept; a value of format characters alone shows nothing, so it is missing. The import then puts every text in one Unicode normal form (NFC by default, see
  ``pipeline.ingest.importers``), so a title typed in NFD is the same song as in NFC.
- ``device``, ``artist``, ``genre``, ``language``: absent, or strings under the same rule.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
UNIX = re.compile(r"\d+(\.\d+)?")
IDS = ("user_id", "song_id")
TAGS = ("device", "artist", "genre", "language")
BOM = "\ufeff"
REFUSED_CATEGORIES = ("Cc", "Cs")  # control characters and unpaired surrogates: refused inside any text field
INVISIBLE = "Cf"  # format characters (zero-width spaces and joiners, direction marks): kept, but never a value alone


JSON_DIGITS = 40  # a JSON integer of more digits is no timestamp, duration or id: kept as a BigNumber, never converted


class BigNumber:
    """A JSON integer too long to be any field's value (Python refuses to convert one of over 4,300 digits, and one
    of over 308 is past any float): its digits are kept, and each rule refuses it by name."""

    def __init__(self, digits: str):
        self.digits = digits

    def __repr__(self) -> str:
        return f"a {len(self.digits.lstrip('-'))}-digit number"


def json_int(digits: str) -> int | BigNumber:
    """``json.loads``'s ``parse_int``: an integer, or a ``BigNumber`` past ``JSON_DIGITS`` digits."""
    return int(digits) if len(digits) <= JSON_DIGITS else BigNumber(digits)


QUOTE_OPEN, QUOTE_CLOSE = "\x02", "\x03"  # around a quoted value in a reason (a repr never holds either)
QUOTED = re.compile(f"{QUOTE_OPEN}[^{QUOTE_CLOSE}]*{QUOTE_CLOSE}")
WITHHELD_VALUE = "a value withheld: the log is pseudonymised"


def quoted(text: str) -> str:
    """``text`` (a value's repr) marked as a quoted value, so that ``public`` can withhold it."""
    return QUOTE_OPEN + text + QUOTE_CLOSE


def shown(value) -> str:
    """A value as a reason quotes it: at most 40 characters of its repr, marked (``quoted``)."""
    text = repr(value)
    return quoted(text if len(text) <= 40 else text[:37] + "...")


def public(reason: str, withhold: bool) -> str:
    """A reason as it is stored and shown: its quoted values as they are, or, for a pseudonymised log (``withhold``),
    replaced by a note (a raw value may be an id: a listener's e-mail address in a shifted column)."""
    if withhold:
        return QUOTED.sub(WITHHELD_VALUE, reason)
    return reason.replace(QUOTE_OPEN, "").replace(QUOTE_CLOSE, "")


class LogInputError(ValueError):
    """Input that stops a run: says which file (and row, and field) is at fault."""


@dataclass(frozen=True)
class Window:
    """The timestamps a log may hold: from ``earliest`` to ``days_after`` days after ``now`` (the import)."""

    earliest: datetime = datetime(2000, 1, 1, tzinfo=timezone.utc)
    days_after: float = 1.0
    now: datetime | None = None

    @property
    def latest(self) -> datetime:
        return (self.now or datetime.now(timezone.utc)) + timedelta(days=self.days_after)

    @classmethod
    def of(cls, earliest: str, days_after: float) -> Window:
        start = datetime.fromisoformat(earliest)
        return cls(start if start.tzinfo else start.replace(tzinfo=timezone.utc), days_after)


def timestamp(value, window: Window) -> tuple[datetime | None, str | None]:
    """(the UTC time, None), or (None, the rule it breaks): ``parse``, then the plausibility window."""
    ts, reason = parse(value)
    if reason:
        return None, reason
    latest = window.latest
    if not window.earliest <= ts <= latest:
        how = " read as unix seconds" if not isinstance(value, datetime) and UNIX.fullmatch(str(value).strip()) else ""
        return None, (f"timestamp outside the plausibility window ({quoted(repr(str(value)[:40]))}{how} is {ts.date().isoformat()}; "
                      f"the window is {window.earliest.date().isoformat()} to {latest.date().isoformat()})")
    return ts, None


def parse(value) -> tuple[datetime | None, str | None]:
    """A timestamp's format alone (no window): (the UTC time, None), or (None, the rule it breaks)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "missing timestamp"
    if isinstance(value, BigNumber):
        return None, f"timestamp is {value!r}: out of range for unix seconds"
    if isinstance(value, bool) or not isinstance(value, (str, int, float, date)):
        return None, f"timestamp is not a date or unix seconds ({type(value).__name__})"
    if not isinstance(value, datetime) and isinstance(value, date):  # a Parquet Date: as the text 2016-06-01 is read
        ts = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    elif isinstance(value, datetime):
        ts = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, (int, float)) or UNIX.fullmatch(value.strip()):
        try:
            seconds = float(value)
        except OverflowError:  # an int past any float
            seconds = math.inf
        if not math.isfinite(seconds):
            return None, f"timestamp {shown(value)} is not a finite number"
        try:
            ts = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None, f"timestamp {shown(value)} as unix seconds is outside any calendar"
    else:
        text = value.strip()
        if not ISO_DATE.match(text):
            return None, f"unparsable timestamp ({quoted(repr(text[:40]))}): ISO-8601 needs a date like 2016-06-01"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None, f"unparsable timestamp ({quoted(repr(text[:40]))})"
        ts = parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return ts, None


NAMES = {"user_id": "user", "song_id": "song"}


def text(field: str, value, required: bool) -> tuple[str | None, str | None]:
    """(the cleaned string or None when absent, None), or (None, the rule it breaks)."""
    name = NAMES.get(field, field)
    if value is None:
        return None, f"missing {name}" if required else None
    if isinstance(value, BigNumber):
        return None, f"{name} is {value!r}: out of range for an id"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, f"{name} is not a string ({type(value).__name__})"
    cleaned = str(value).strip().removeprefix(BOM).strip()
    if all(unicodedata.category(c) == INVISIBLE for c in cleaned):  # (empty, or nothing a reader could see)
        return None, f"missing {name}" if required else None
    bad = next((c for c in cleaned if unicodedata.category(c) in REFUSED_CATEGORIES), None)
    if bad is not None:
        return None, f"{name} holds a {'control character' if unicodedata.category(bad) == 'Cc' else 'unpaired surrogate'} (U+{ord(bad):04X})"
    return cleaned, None


def event(rec: dict, window: Window) -> tuple[dict | None, str | None]:
    """A reader's record checked field by field: (the clean event, None), or (None, the first rule it breaks)."""
    ts, reason = timestamp(rec.get("timestamp"), window)
    if reason:
        return None, reason
    out = {"timestamp": ts}
    for field in (*IDS, *TAGS):
        out[field], reason = text(field, rec.get(field), required=field in IDS)
        if reason:
            return None, reason
    return out, None
