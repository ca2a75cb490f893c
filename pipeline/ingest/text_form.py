"""One spelling of a text: a log's ids and names put in one Unicode normal form after the field rules, so that a
title typed in NFD (``e`` and a combining accent) is the same song as the one typed with ``é``."""

from __future__ import annotations

import polars as pl

from pipeline.ingest.columns import FIELDS
from pipeline.ingest.field_rules import LogInputError

TEXT_FORMS = ("NFC", "NFKC", "")  # the Unicode normal forms a log's text may be put in ("": as written)
TEXT_FIELDS = FIELDS[1:]  # every field but the timestamp
NORMALISED = "_normalised"  # a batch's column: how many of the row's text values the normal form changed


def check_text_form(form: str) -> str:
    if form not in TEXT_FORMS:
        raise LogInputError(f"text_form {form!r}: expected one of {', '.join(repr(f) for f in TEXT_FORMS)}")
    return form


def normalised(events: pl.DataFrame, form: str) -> pl.DataFrame:
    """``events`` with every text value in the Unicode normal ``form`` (NFC: the same title typed in NFD is the same
    song), and a column ``_normalised``: how many of each row's values it changed. Only non-ASCII values are looked at
    (ASCII text is in every normal form)."""
    changed = pl.repeat(0, events.height, dtype=pl.Int64, eager=True)
    if not form or events.is_empty():
        return events.with_columns(changed.alias(NORMALISED))
    columns = {}
    for f in TEXT_FIELDS:
        values = events[f]
        wide = (values.str.len_bytes() != values.str.len_chars()).fill_null(False)  # non-ASCII
        if not wide.any():
            continue
        distinct = values.filter(wide).unique()  # each distinct value normalised once (a log repeats its names)
        after = distinct.str.normalize(form)
        moved = after != distinct
        if not moved.any():
            continue
        changes = dict(zip(distinct.filter(moved).to_list(), after.filter(moved).to_list()))
        hit = values.is_in(pl.Series(list(changes), dtype=pl.String).implode()).fill_null(False)
        columns[f] = values.replace(changes)
        changed = changed + hit.cast(pl.Int64)
    return events.with_columns(*columns.values(), changed.alias(NORMALISED))
