"""Bad input, refused by a named rule or stopped with a message naming the file: nothing accepted
silently wrong, nothing lost from the counts (the adversarial inputs of the 'nothing silently wrong' issue)."""

import json
import os

import polars as pl
import pytest

from pipeline.contract import EVENT_SCHEMA
from pipeline.ingest.importers import import_log, resolve_files
from pipeline.ingest.log_formats import UNTERMINATED, LogInputError

HEADER = "timestamp,user_id,device,song_id,artist,genre,language\n"
GOOD = "2016-01-01T10:00:00Z,u1,mobile,s1,a,Pop,Mandarin\n"


def run(tmp_path, path, fmt):
    report = import_log(str(path), fmt, tmp_path / "events.parquet", tmp_path / "quarantine.parquet")
    return report, pl.read_parquet(tmp_path / "events.parquet"), pl.read_parquet(tmp_path / "quarantine.parquet")


def only_reason(tmp_path, path, fmt) -> str:
    report, _, quarantine = run(tmp_path, path, fmt)
    assert report.read == report.accepted + report.quarantined and quarantine.height == 1, quarantine
    return quarantine["reason"][0]


@pytest.mark.parametrize("value, expected", [
    ("20160601", "read as unix seconds is 1970-08-22"),  # a compact ISO date, not guessed
    ("2016", "read as unix seconds is 1970-01-01"),
    ("0", "outside the plausibility window"),
    ("1969-12-31T23:59:59Z", "is 1969-12-31"),
    ("0001-01-01T00:00:00", "is 0001-01-01"),
    ("2100-01-01", "is 2100-01-01"),
    ("9999-12-31T23:59:59", "is 9999-12-31"),
    ("20160601T120000", "ISO-8601 needs a date like 2016-06-01"),
])
def test_timestamps_outside_the_rules_are_refused(tmp_path, value, expected):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + GOOD + f"{value},u1,mobile,s1,a,Pop,Mandarin\n")
    assert expected in only_reason(tmp_path, path, "canonical")


@pytest.mark.parametrize("user, expected", [
    ("u\x001", "user holds a control character (U+0000)"),
    ("u\x1b1", "user holds a control character (U+001B)"),
    ("\u00a0", "missing user"),  # only white space
])
def test_ids_with_hidden_characters_are_refused(tmp_path, user, expected):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + GOOD + f"2016-01-01T11:00:00Z,{user},mobile,s1,a,Pop,Mandarin\n")
    assert only_reason(tmp_path, path, "canonical") == expected


def test_a_byte_order_mark_is_dropped_not_made_a_user(tmp_path):
    tsv = tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv"
    tsv.write_bytes("\ufeffuser_000000\t2016-01-01T10:00:00Z\t\tA\tt1\tT\n".encode())
    _, events, _ = run(tmp_path, tsv, "lastfm-1k")
    assert events["user_id"].to_list() == ["user_000000"]
    csv = tmp_path / "log.csv"
    csv.write_bytes(("\ufeff" + HEADER + GOOD).encode())  # the header's first column is still `timestamp`
    assert run(tmp_path, csv, "canonical")[1].height == 1


def test_a_duplicated_header_column_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("timestamp,user_id,user_id,song_id\n2016-01-01T10:00:00Z,a,b,s1\n")
    with pytest.raises(LogInputError, match=r"log.csv, row 1 \(header\): column\(s\) user_id given twice"):
        run(tmp_path, path, "canonical")


def test_a_huge_csv_field_is_a_quarantined_row(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + GOOD + f'2016-01-01T11:00:00Z,u1,mobile,s1,"{"x" * 200_000}",Pop,Mandarin\n')
    # the quote is still open 131,072 bytes on (the csv module's field limit): the record is refused as unterminated
    assert only_reason(tmp_path, path, "canonical") == UNTERMINATED


@pytest.mark.parametrize("content, expected", [
    ((HEADER + GOOD).replace("\n", "\r").encode(), "lines end with a lone CR"),
    ((HEADER + GOOD).encode("utf-16"), "UTF-16 text; convert it to UTF-8"),
])
def test_whole_file_problems_stop_the_run_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    with pytest.raises(LogInputError, match=f"log.csv \\(whole file\\): {expected}"):
        run(tmp_path, path, "canonical")


def test_an_unreadable_parquet_file_is_named(tmp_path):
    good = tmp_path / "good.parquet"
    pl.DataFrame({"timestamp": ["2016-01-01T10:00:00Z"], "user_id": ["u"], "song_id": ["s"]}).write_parquet(good)
    for name, content in (("truncated.parquet", good.read_bytes()[:-20]), ("csv.parquet", (HEADER + GOOD).encode())):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(LogInputError, match=f"{name} \\(whole file\\): not a readable Parquet file"):
            run(tmp_path, path, "canonical")


def test_parquet_values_are_not_coerced(tmp_path):
    path = tmp_path / "log.parquet"
    ts = ["2016-01-01T10:00:00Z"] * 3
    pl.DataFrame({"timestamp": ts, "user_id": [7, 8, 9], "song_id": ["s1", "s2", "s3"]}).write_parquet(path)
    _, events, _ = run(tmp_path, path, "canonical")
    assert events["user_id"].to_list() == ["7", "8", "9"]  # an integer id is its digits
    pl.DataFrame({"timestamp": ts[:2], "user_id": [0.0, 1.5], "song_id": ["s1", "s2"]}).write_parquet(path)
    with pytest.raises(LogInputError, match="no usable events.*user is not a string"):
        run(tmp_path, path, "canonical")
    pl.DataFrame({"timestamp": ts[:1], "user_id": [{"id": 1}], "song_id": ["s1"]}).write_parquet(path)
    with pytest.raises(LogInputError, match=r"1 rows: user is not a string"):
        run(tmp_path, path, "canonical")


GOOD_LISTEN = {"listened_at": 1600000000, "user_name": "bob", "track_metadata": {"artist_name": "A", "track_name": "T"}}


@pytest.mark.parametrize("bad, expected", [
    ({**GOOD_LISTEN, "user_name": {"id": 1}}, "user is not a string (dict)"),
    ({**GOOD_LISTEN, "user_name": ["a"]}, "user is not a string (list)"),
    ({**GOOD_LISTEN, "track_metadata": ["A", "T"]}, "track_metadata has the wrong JSON type"),
    ({**GOOD_LISTEN, "track_metadata": {"track_name": 5}}, "track_metadata.track_name has the wrong JSON type"),
    ({**GOOD_LISTEN, "track_metadata": {"track_name": "T", "additional_info": "x"}}, "track_metadata.additional_info has"),
    ({**GOOD_LISTEN, "track_metadata": {"track_name": "T", "additional_info": {"recording_mbid": 1}}}, "recording_mbid has"),
    ({**GOOD_LISTEN, "listened_at": -1}, "is 1969-12-31"),
    ({**GOOD_LISTEN, "listened_at": True}, "timestamp is not a date or unix seconds (bool)"),
])
def test_listenbrainz_json_of_the_wrong_type_is_refused(tmp_path, bad, expected):
    path = tmp_path / "x.listens"
    path.write_text(json.dumps(GOOD_LISTEN) + "\n" + json.dumps(bad) + "\n")
    assert expected in only_reason(tmp_path, path, "listenbrainz")


GOOD_PLAY = {"ts": "2023-01-01T10:03:00Z", "ms_played": 1000, "spotify_track_uri": "spotify:track:1", "platform": "ios"}


@pytest.mark.parametrize("bad, expected", [
    ({**GOOD_PLAY, "platform": 5}, "platform is not a string (int)"),
    ({**GOOD_PLAY, "spotify_track_uri": ["spotify:track:1"]}, "spotify_track_uri is not a string (list)"),
    ({**GOOD_PLAY, "ms_played": float("nan")}, "bad ms_played"),
    ({**GOOD_PLAY, "ms_played": float("inf")}, "bad ms_played"),
    ({**GOOD_PLAY, "ms_played": 10**13}, "is 1706-"),  # the start would be in 1706: outside the window
    ({**GOOD_PLAY, "ts": "0001-01-01T00:00:00Z"}, "before year 1"),
])
def test_spotify_values_of_the_wrong_kind_are_refused(tmp_path, bad, expected):
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "Streaming_History_Audio_2023.json").write_text(json.dumps([GOOD_PLAY, bad]))  # NaN/Infinity as JSON allows
    assert expected in only_reason(tmp_path, folder, "spotify")


def test_a_spotify_file_with_a_bom_is_read_and_a_broken_one_is_not_lost_from_the_counts(tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    plays = [{**GOOD_PLAY, "ts": f"2023-01-01T10:{m:02d}:00Z"} for m in range(49)]
    (folder / "Streaming_History_Audio_2023.json").write_bytes(("\ufeff" + json.dumps(plays)).encode())
    assert run(tmp_path, folder, "spotify")[0].accepted == 49
    (folder / "Streaming_History_Audio_2024.json").write_text(json.dumps(plays)[:-1] + ",]")  # a trailing comma
    report, _, quarantine = run(tmp_path, folder, "spotify")
    broken = str(folder / "Streaming_History_Audio_2024.json")
    assert report.files_rejected == {broken: quarantine.filter(pl.col("row") == 0)["reason"].item()}
    assert "invalid JSON file" in report.files_rejected[broken]  # reported, so the reconcile check fails


def test_each_file_is_read_once_whatever_links_lead_to_it(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "a.listens").write_text(json.dumps(GOOD_LISTEN) + "\n")
    os.symlink(folder / "a.listens", folder / "b.listens")  # a symlinked file in the folder
    os.symlink(folder, folder / "loop")  # a folder that contains itself
    assert resolve_files(str(folder)) == [folder / "a.listens"]
    assert resolve_files(str(tmp_path / "log" / "**" / "*.listens")) == [folder / "a.listens"]


def test_accepted_events_keep_the_canonical_schema(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + GOOD)
    assert dict(run(tmp_path, path, "canonical")[1].schema) == EVENT_SCHEMA


# ---------------------------------------------------------------- property tests: whatever the records hold

import unicodedata  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.ingest.field_rules import Window  # noqa: E402

TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["u1", "s1", "\ufeffu1", "u\x00", "a\u200bb", "\u200b", " ",
                                                        "2016-01-01T10:00:00Z"]))
JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15), st.floats(allow_nan=True), TEXT),
                          lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(TEXT, inner, max_size=2)), max_leaves=4)
TIMESTAMP = st.one_of(st.integers(-10**12, 10**12), st.sampled_from(["2016-01-01T10:00:00Z", "20160601", "9999-12-31", "x"]), JSON_VALUE)


def check_import(tmp_path, path, fmt):
    """No exception but a named LogInputError; the counts reconcile; every accepted event obeys the rules."""
    window = Window()
    try:
        report, events, _ = run(tmp_path, path, fmt)
    except LogInputError as exc:
        assert str(path.name) in str(exc) or "no usable events" in str(exc)
        return
    assert report.read == report.accepted + report.quarantined
    assert events["timestamp"].is_between(window.earliest, window.latest).all()
    for column in ("user_id", "song_id", "device", "artist"):
        for value in events[column].drop_nulls().to_list():
            # no control character or surrogate; format characters (zero-width joiners in names) only beside others
            assert value and value == value.strip() and not any(unicodedata.category(c) in ("Cc", "Cs") for c in value)
            assert any(unicodedata.category(c) != "Cf" for c in value)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(st.lists(st.fixed_dictionaries({"listened_at": TIMESTAMP, "user_name": JSON_VALUE, "track_metadata": JSON_VALUE}),
                min_size=1, max_size=6))
def test_listenbrainz_whatever_the_json(tmp_path, listens):
    path = tmp_path / "x.listens"
    path.write_text("\n".join(json.dumps(r) for r in listens) + "\n")
    check_import(tmp_path, path, "listenbrainz")


@PROPERTY
@given(st.lists(st.fixed_dictionaries({"ts": TIMESTAMP, "ms_played": JSON_VALUE, "spotify_track_uri": JSON_VALUE,
                                       "platform": JSON_VALUE, "username": JSON_VALUE}), min_size=1, max_size=6))
def test_spotify_whatever_the_json(tmp_path, plays):
    folder = tmp_path / "someone"
    folder.mkdir(exist_ok=True)
    (folder / "Streaming_History_Audio_2023.json").write_text(json.dumps(plays))
    check_import(tmp_path, folder, "spotify")


ROW = st.lists(st.one_of(TEXT, st.integers(-10**12, 10**12).map(str)), min_size=3, max_size=8)


@PROPERTY
@given(st.lists(ROW, min_size=1, max_size=6))
def test_canonical_csv_whatever_the_cells(tmp_path, rows):
    import csv

    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["timestamp", "user_id", "song_id", "device", "artist"])
        writer.writerows(rows)
    check_import(tmp_path, path, "canonical")


@PROPERTY
@given(st.lists(ROW, min_size=1, max_size=6))
def test_lastfm_whatever_the_cells(tmp_path, rows):
    path = tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv"
    path.write_text("".join("\t".join(c.replace("\t", " ").replace("\n", " ").replace("\r", " ") for c in r) + "\n" for r in rows))
    check_import(tmp_path, path, "lastfm-1k")


def test_the_reconcile_check_fails_when_a_whole_file_was_rejected(tmp_path):
    from assets.checks import reconcile
    from pipeline.contract import StageFiles

    folder = tmp_path / "raw"
    folder.mkdir()
    files = StageFiles("raw_events", folder)
    folder_log = tmp_path / "alice"
    folder_log.mkdir()
    (folder_log / "Streaming_History_Audio_2023.json").write_text(json.dumps([GOOD_PLAY]))
    (folder_log / "Streaming_History_Audio_2024.json").write_text(json.dumps([GOOD_PLAY])[:-1] + ",]")
    report = import_log(str(folder_log), "spotify", files["events"], files["quarantine"])
    files["summary"].write_text(json.dumps(report.as_dict()))
    result = reconcile(files)
    assert report.read == report.accepted + report.quarantined  # the rows balance...
    assert not result.passed  # ...but a file's records were never counted
    assert result.metadata["whole files rejected (records uncounted)"].value == 1
