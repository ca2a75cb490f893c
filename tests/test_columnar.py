"""The vectorised import of the line formats gives, row for row, what the per-row definition gives.

The oracle below is the definition read literally: every line (``log_formats.lines``) through the
format's row function and ``field_rules.event``, exact duplicates refused after the first. The
importer must produce the same events (values, types, order) and the same quarantine (file, row,
reason, raw), whatever the bytes: adversarial characters, every timestamp form, several blocks.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.contract import EVENT_SCHEMA, QUARANTINE_SCHEMA
from pipeline.ingest import columnar, line_split
from pipeline.ingest.field_rules import LogInputError, Window, event, public
from pipeline.ingest.importers import DUPLICATE, import_log
from pipeline.ingest.log_formats import RAW_LIMIT, csv_header, csv_row, lastfm_row, lines, unterminated_row, whole_file_check

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
WINDOW = Window(now=NOW)
LASTFM = "userid-timestamp-artid-artname-traid-traname.tsv"


def csv_records(path):
    """A CSV's RFC 4180 records read literally, as the csv module's states go: (row, text or None, raw text,
    unterminated). A line break inside a quoted field belongs to the record; a quoted field still open ``limit``
    bytes after its record began, or at the end, makes the record its first line alone."""
    data = path.read_bytes()
    whole_file_check(path, data[:1 << 16])
    data = data.removeprefix(b"\xef\xbb\xbf")
    i, row, limit = 0, 0, line_split.QUOTED_LIMIT
    while i < len(data):
        j, state = i, "start"
        while j < len(data):
            c = data[j:j + 1]
            if state == "quoted":
                if c == b'"':
                    state = "closed"
                elif j - i >= limit:
                    break
            elif c == b"\n":
                break
            elif state in ("start", "closed"):  # a field's first character, or the one after a closing quote
                state = "quoted" if c == b'"' else "start" if c == b"," else "unquoted"
            elif c == b",":
                state = "start"
            j += 1
        unterminated = state == "quoted"
        if unterminated:
            j = data.find(b"\n", i)
            j = len(data) if j < 0 else j
        raw, row = data[i:j].rstrip(b"\r"), row + 1
        try:
            yield row, raw.decode("utf-8"), "", unterminated
        except UnicodeDecodeError:
            yield row, None, raw.decode("utf-8", errors="replace"), unterminated
        i = j + 1


def oracle(path, fmt):
    """(events, quarantine) by the per-row definition."""
    if fmt == "canonical":
        rows = list(csv_records(path))
        if not rows:
            return pl.DataFrame(schema=EVENT_SCHEMA), pl.DataFrame(schema=QUARANTINE_SCHEMA)
        header, mapping = csv_header(path, rows[0][1], {})
        parsed = [unterminated_row(i, (line or bad).encode()) if cut else csv_row(i, line, bad, header, mapping)
                  for i, line, bad, cut in rows[1:]]
    else:
        rows = list(lines(path))
        parsed = [lastfm_row(i, line, bad) for i, line, bad in rows]
    accepted, refused, seen = [], [], set()
    for i, raw, rec, reason in parsed:
        if rec is not None:
            rec, reason = event(rec, WINDOW)
        if reason:
            refused.append({"file": str(path), "row": i, "reason": public(reason, withhold=False), "raw": raw[:RAW_LIMIT]})
        else:
            accepted.append((i, {k: rec[k] for k in EVENT_SCHEMA}))
    events, dups = [], []
    for i, rec in accepted:
        key = tuple(rec.values())
        if key in seen:
            dups.append({"file": str(path), "row": i, "reason": DUPLICATE, "raw": json.dumps(rec, default=str)})
        else:
            seen.add(key)
            events.append(rec)
    return pl.DataFrame(events, schema=EVENT_SCHEMA), pl.DataFrame(refused + dups, schema=QUARANTINE_SCHEMA)


def imported(tmp_path, path, fmt):
    out = tmp_path / "out"
    import_log(str(path), fmt, out / "e.parquet", out / "q.parquet", window=WINDOW)
    return pl.read_parquet(out / "e.parquet"), pl.read_parquet(out / "q.parquet")


def same_as_oracle(tmp_path, path, fmt):
    try:
        want = oracle(path, fmt)
    except LogInputError as exc:  # a bad header, or a whole-file problem: the same error
        with pytest.raises(LogInputError) as got:
            imported(tmp_path, path, fmt)
        assert str(got.value) == str(exc)
        return
    if want[0].is_empty():
        with pytest.raises(LogInputError, match="no usable events"):
            imported(tmp_path, path, fmt)
        return
    got = imported(tmp_path, path, fmt)
    assert got[0].schema == want[0].schema
    assert got[0].to_dicts() == want[0].to_dicts()
    assert got[1].to_dicts() == want[1].to_dicts()


TIMES = st.sampled_from([
    "2016-06-01T12:00:00Z", "2016-06-01 12:00:00", "2016-06-01T12:00:00+08:00", "2016-06-01T23:59:59-05:30",
    "2016-06-01", " 2016-06-01T12:00:00Z ", "1464782400", "01464782400", "1464782400.5", "2016-02-30T00:00:00Z",
    "2016-06-01T24:00:00Z", "2016-06-01T12:00:60Z", "2016-06-01T12:00:00.123Z", "2016-06-01T12:00:00+24:00",
    "20160601", "1999-12-31T23:59:59Z", "2000-01-01", "2026-12-02T00:00:00Z", "2026-12-02T00:00:01Z", "9999-12-31",
    "", "x", "\u0661\u0664\u0666\u0664", "2016-06-01t12:00:00z", "2016-06-01T12:00:00+0800", "0000-01-01",
])
ODD = "\t ,\"\r\x00\x85\xa0\u3000\ufeff\u200b\u2028\x1f\x7fé–"
CELL = st.one_of(st.sampled_from(["u1", "u2", "s1", "", " u1", "u1 ", "\ufeffu1", "\ufeff\ufeffu1", "a\u200bb", "Ærø"]),
                 st.text(alphabet=st.sampled_from("ab1" + ODD), max_size=5))


def lastfm_line(draw):
    cells = [draw(CELL), draw(TIMES), draw(CELL), draw(CELL), draw(st.sampled_from(["", " ", "mbid-1", draw(CELL)])), draw(CELL)]
    if draw(st.integers(0, 9)) == 0:
        cells = cells[: draw(st.integers(0, 7))] or [""]
    return "\t".join(cells)


QUOTED = st.one_of(  # RFC 4180 fields: quoted, with separators, doubled quotes and line breaks inside; and stray quotes
    st.text(alphabet=st.sampled_from('ab,"\n\r'), max_size=6).map(lambda t: '"' + t.replace('"', '""') + '"'),
    st.sampled_from(['"u1"', '"s1\nsecond line"', '"u""1"', '"unterminated', 'a"b', '"u1"x', '""']))


def csv_line(draw):
    cells = [draw(TIMES), draw(CELL), draw(CELL), draw(CELL)]
    if draw(st.integers(0, 3)) == 0:
        cells[draw(st.integers(0, 3))] = draw(QUOTED)
    if draw(st.integers(0, 9)) == 0:
        cells = cells[: draw(st.integers(0, 5))]
    return ",".join(cells)


@st.composite
def log_bytes(draw, fmt):
    make = lastfm_line if fmt == "lastfm-1k" else csv_line
    body = [make(draw) for _ in range(draw(st.integers(1, 12)))]
    body += draw(st.lists(st.sampled_from(body), max_size=3))  # exact duplicates
    ends = draw(st.sampled_from(["\n", "\r\n", "\r\r\n"]))
    text = ("timestamp,user_id,song_id,artist" + ends if fmt == "canonical" else "") + ends.join(body)
    data = text.encode("utf-8") + draw(st.sampled_from([b"", ends.encode()]))
    if draw(st.booleans()):  # a line that is not UTF-8
        data = data.replace(b"u2", b"u\xff2", 1)
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + data


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("fmt,name,block_bytes,quoted_limit", [
    (fmt, name, block, limit) for fmt, name in [("lastfm-1k", LASTFM), ("canonical", "log.csv")]
    for block, limit in [(64, line_split.QUOTED_LIMIT), (columnar.BLOCK_BYTES, line_split.QUOTED_LIMIT)]
] + [("canonical", "log.csv", 64, 40)])  # a quoted field cut short by the limit
def test_the_vectorised_import_is_the_per_row_definition(tmp_path, monkeypatch, fmt, name, block_bytes, quoted_limit):
    monkeypatch.setattr(columnar, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(line_split, "QUOTED_LIMIT", quoted_limit)

    @PROPERTY
    @given(log_bytes(fmt))
    def check(data):
        path = tmp_path / name
        path.write_bytes(data)
        same_as_oracle(tmp_path, path, fmt)

    check()


def test_blocks_split_only_between_lines_and_keep_row_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 50)
    rows = [f"user{i % 3}\t2016-06-0{1 + i % 9}T10:00:00Z\t\tArtist\t\tSong {i}" for i in range(40)]
    rows[17] = "broken line"
    path = tmp_path / LASTFM
    path.write_text("\n".join(rows))  # no newline at the end
    events, quarantine = imported(tmp_path, path, "lastfm-1k")
    assert events.height == 39
    assert quarantine.select("row", "reason").to_dicts() == [{"row": 18, "reason": "wrong column count (expected 6, got 1)"}]
    assert events["song_id"].to_list() == [f"Artist – Song {i}" for i in range(40) if i != 17]


def test_the_python_character_sets_are_the_rules(monkeypatch):
    """Spot checks of the sets taken from Python: what str.strip() removes, and what the rules refuse."""
    space, refused = columnar._python_chars()
    assert {" ", "\t", "\x85", "\xa0", "\u3000", "\u2028"} <= set(space) and "\ufeff" not in space
    s = pl.Series(["a\u200bb", "a\x00b", "ab", "a\xadb", "aéb", "a\x1bb", "a\u200cb"])
    # control characters are refused; zero-width joiners and spaces, soft hyphens are characters of real names
    assert s.str.contains(refused).to_list() == [False, True, False, False, False, True, False]


def test_a_value_of_format_characters_alone_is_missing_on_both_paths():
    """A zero-width space or a direction mark shows nothing alone: the rules take it for a missing value (a refused
    song, an absent device), and the accelerator leaves it to them; inside a name it stays."""
    from pipeline.ingest.field_rules import text as rule

    values = pl.Series(["\u200b", "\u200e\u200d", " \u200b ", "a\u200bb", "\ufeff"])
    assert [rule("song_id", v, True) for v in values] == [
        (None, "missing song"), (None, "missing song"), (None, "missing song"), ("a\u200bb", None), (None, "missing song")]
    assert rule("device", "\u200b", False) == (None, None)
    value, passes = columnar.text(values)  # (a lone byte-order mark is stripped to nothing: null, missing either way)
    assert passes.to_list() == [False, False, False, True, True] and value[3:].to_list() == ["a\u200bb", None]


def test_plain_rows_never_reach_the_per_row_functions(tmp_path, monkeypatch):
    """The accelerator accelerates: rows in the common forms are decided without the Python row functions."""
    calls = []
    monkeypatch.setattr(columnar, "lastfm_row", lambda *a: calls.append(a) or lastfm_row(*a))
    rows = [f"user{i}\t{t}\tart-{i}\tArtïst {i}\t{mbid}\tSöng {i}" for i, (t, mbid) in enumerate([
        ("2016-06-01T10:00:00Z", "mbid-1"), ("2016-06-01 10:00:01", ""), ("1464775202", "mbid-2"),
        ("2016-06-01T18:00:03+08:00", "mbid-3"), ("2016-06-01", "")])]
    path = tmp_path / LASTFM
    path.write_text("\n".join(rows + ["bad\tline"]) + "\n")
    events, quarantine = imported(tmp_path, path, "lastfm-1k")
    assert events.height == 5 and quarantine["row"].to_list() == [6]
    assert [a[0] for a in calls] == [6]  # only the broken line
    assert events["timestamp"].dt.epoch("s").to_list() == [1464775200, 1464775201, 1464775202, 1464775203, 1464739200]


def test_the_spark_engines_ranges_end_where_csv_records_do(tmp_path):
    """Spark's import cuts a CSV into ranges of whole records: a quoted line break near a cut stays in its record,
    and the ranges' records, numbered on, are the file's (the planner only; the engine's tests run the import)."""
    from pipeline.ingest import spark as importing
    from pipeline.ingest.inputs import LogFile

    path = tmp_path / "log.csv"
    body = [f'2016-01-01T10:{i:02d}:00Z,u{i % 3},"song\n{i}"' if i % 4 == 0 else f"2016-01-01T10:{i:02d}:00Z,u{i % 3},s{i}"
            for i in range(40)]
    path.write_text("timestamp,user_id,song_id\n" + "\n".join(body) + "\n")
    tasks, first_line = importing.plan([LogFile(path)], "canonical", {}, range_bytes=64)
    data = path.read_bytes()
    assert len(tasks) > 5 and first_line == {0: 2} and tasks[0].start == len("timestamp,user_id,song_id\n")
    assert all(a.end == b.start for a, b in zip(tasks, tasks[1:])) and tasks[-1].end == len(data)
    texts = [bytes(data[t.start:t.end][a:b]).decode() for t in tasks
             for a, b in zip(*(lambda r: (r.starts, r.ends))(line_split.records(data[t.start:t.end], ",", True)))]
    assert texts == body
