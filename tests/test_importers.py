"""Each format with good and malformed rows: every row is accepted or quarantined with its reason."""

import json
from datetime import datetime, timezone

import polars as pl
import pytest

from pipeline.ingest.importers import detect_format, import_log
from pipeline.ingest.log_formats import UNTERMINATED, LogInputError, device_family, parse_timestamp
from pipeline.ingest.pseudonyms import pseudonymise


def run(tmp_path, pattern, fmt, **kw):
    report = import_log(str(pattern), fmt, tmp_path / "out" / "events.parquet", tmp_path / "out" / "quarantine.parquet", **kw)
    events = pl.read_parquet(tmp_path / "out" / "events.parquet")
    quarantine = pl.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert report.read == report.accepted + report.quarantined == events.height + quarantine.height
    return report, events, quarantine


def reasons(quarantine):
    return dict(zip(quarantine["row"].to_list(), quarantine["reason"].to_list()))


def test_lastfm_1k(tmp_path):
    path = tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv"
    rows = [
        "user_000001\t2009-05-04T23:08:57Z\tf1b1cf71\tDeep Dish\t\tFuck Me Im Famous",
        "user_000001\t2009-05-04T13:54:10Z\ta7f7df4a\tUnderworld\tmbid-1\tBorn Slippy",
        "user_000001\tnot-a-time\ta\tArtist\tmbid-2\tSong",  # 3: bad timestamp
        "user_000001\t2009-05-04T13:54:10Z\ta7f7df4a\tUnderworld",  # 4: 4 columns
        "\t2009-05-04T13:54:10Z\ta\tArtist\tmbid-3\tSong",  # 5: no user
        "user_000002\t2009-05-04T13:54:10Z\ta\tArtist\t\t",  # 6: no song at all
        "user_000001\t2009-05-04T13:54:10Z\ta7f7df4a\tUnderworld\tmbid-1\tBorn Slippy",  # 7: duplicate of 2
    ]
    path.write_bytes("\n".join(rows).encode() + b"\nuser_000003\t2009-05-04T13:54:10Z\ta\t\xff\xfe\tm\tt\n")  # 8: not UTF-8
    report, events, quarantine = run(tmp_path, path, "lastfm-1k")
    assert report.read == 8 and report.accepted == 2
    assert events["song_id"].to_list() == ["Deep Dish – Fuck Me Im Famous", "mbid-1"]  # input order kept
    assert events["timestamp"][0] == datetime(2009, 5, 4, 23, 8, 57, tzinfo=timezone.utc)
    got = reasons(quarantine)
    assert got[3].startswith("unparsable timestamp") and got[4] == "wrong column count (expected 6, got 4)"
    assert got[5] == "missing user" and got[6] == "missing song"
    assert got[7] == "exact duplicate of an earlier row" and got[8] == "bad encoding (not UTF-8)"
    assert not report.has_device


def test_spotify_extended_history(tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    records = [
        {"ts": "2023-01-01T10:03:00Z", "platform": "Android OS 13 API 33 (samsung, SM-G991B)", "ms_played": 180000,
         "spotify_track_uri": "spotify:track:1", "master_metadata_album_artist_name": "A", "master_metadata_track_name": "x"},
        {"ts": "2023-01-01T10:06:00Z", "platform": "OS X 13.0 [x86 8]", "ms_played": 60000, "spotify_track_uri": "spotify:track:2"},
        {"ts": "2023-01-01T11:00:00Z", "platform": "ios", "ms_played": 1000, "spotify_track_uri": None,
         "spotify_episode_uri": "spotify:episode:9", "episode_name": "A podcast"},
        {"ts": "yesterday", "ms_played": 1, "spotify_track_uri": "spotify:track:3"},
        {"ts": "2023-01-01T12:00:00Z", "ms_played": -5, "spotify_track_uri": "spotify:track:3"},
        {"ts": "2023-01-01T12:00:00Z", "ms_played": 5, "spotify_track_uri": None, "audiobook_title": "A book"},
    ]
    (folder / "Streaming_History_Audio_2023.json").write_text(json.dumps(records))
    (folder / "Streaming_History_Audio_2024.json").write_text("[{broken")
    report, events, quarantine = run(tmp_path, folder, "auto")
    assert report.accepted == 2 and report.quarantined == 5
    assert events["user_id"].unique().to_list() == ["alice"]  # no username: the folder's name
    assert events["timestamp"][0] == datetime(2023, 1, 1, 10, 0, tzinfo=timezone.utc)  # ts - ms_played
    assert events["device"].to_list() == ["mobile", "desktop"]
    assert sorted(quarantine["reason"].str.split(" (").list.first().to_list()) == sorted(
        ["not a song", "unparsable timestamp", "bad ms_played", "not a song", "invalid JSON file"])


def test_listenbrainz(tmp_path):
    path = tmp_path / "listens.jsonl"
    good = {"listened_at": 1600000000, "user_name": "bob",
            "track_metadata": {"artist_name": "A", "track_name": "T", "additional_info": {"recording_mbid": "rec-1"}}}
    no_mbid = {"listened_at": 1600000300, "user_name": "bob", "track_metadata": {"artist_name": "A", "track_name": "U"}}
    lines = [json.dumps(good), json.dumps(no_mbid), "{not json", json.dumps([1, 2]),
             json.dumps({"listened_at": 1600000600, "track_metadata": {"track_name": "V"}}), ""]
    path.write_text("\n".join(lines) + "\n")
    report, events, quarantine = run(tmp_path, path, "listenbrainz")
    assert events["song_id"].to_list() == ["rec-1", "A – U"]
    assert events["timestamp"][0] == datetime.fromtimestamp(1600000000, tz=timezone.utc)
    assert reasons(quarantine) == {3: "invalid JSON (Expecting property name enclosed in double quotes)",
                                   4: "not a JSON object", 5: "missing user", 6: "empty line"}


def test_canonical_csv_and_parquet(tmp_path):
    csv = tmp_path / "log.csv"
    csv.write_text(
        "timestamp,user_id,device,song_id,artist,genre,language\n"
        "2016-01-01T10:00:00+08:00,u1,mobile,s1,a,Pop,Mandarin\n"
        "1451613600,u1,,s2,,,\n"
        "2016-01-01T10:00:00,u1,mobile,s1\n"
        "2016-13-01T00:00:00,u2,mobile,s1,a,Pop,Mandarin\n"
    )
    report, events, quarantine = run(tmp_path, csv, "canonical")
    assert events["timestamp"].to_list() == [datetime(2016, 1, 1, 2, 0, tzinfo=timezone.utc), datetime(2016, 1, 1, 2, 0, tzinfo=timezone.utc)]
    assert events["device"].to_list() == ["mobile", None]
    assert reasons(quarantine) == {4: "wrong column count (expected 7, got 4)", 5: "unparsable timestamp ('2016-13-01T00:00:00')"}
    pq = tmp_path / "log.parquet"
    events.write_parquet(pq)
    report2, events2, _ = run(tmp_path, pq, "canonical")
    assert events2.equals(events) and report2.quarantined == 0


def test_clear_errors_for_bad_sources(tmp_path):
    with pytest.raises(LogInputError, match="no input files"):
        import_log(str(tmp_path / "nothing*.csv"), "canonical", tmp_path / "e.parquet", tmp_path / "q.parquet")
    (tmp_path / "a.csv").write_text("when,who\n1,2\n")
    with pytest.raises(LogInputError, match=r"a.csv, row 1 \(header\): missing column\(s\) timestamp, user_id, song_id"):
        import_log(str(tmp_path / "a.csv"), "canonical", tmp_path / "e.parquet", tmp_path / "q.parquet")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(LogInputError, match="no usable events.*the input is empty"):
        import_log(str(tmp_path / "empty.tsv"), "lastfm-1k", tmp_path / "e.parquet", tmp_path / "q.parquet")
    with pytest.raises(LogInputError, match="unknown format"):
        import_log(str(tmp_path / "a.csv"), "itunes", tmp_path / "e.parquet", tmp_path / "q.parquet")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(LogInputError, match="cannot tell the format"):
        detect_format([tmp_path / "notes.txt"])
    with pytest.raises(LogInputError, match="mixes formats"):
        detect_format([tmp_path / "a.csv", tmp_path / "empty.tsv"])
    assert not (tmp_path / "e.parquet").exists()


def test_pseudonymised_users_are_stable_and_salted(tmp_path):
    path = tmp_path / "l.tsv"
    path.write_text("alice\t2009-05-04T23:08:57Z\t\tA\tm1\tT\nalice\t2009-05-04T23:18:57Z\t\tA\tm2\tT\n")
    _, events, _ = run(tmp_path, path, "lastfm-1k", salt="pepper")
    assert events["user_id"].to_list() == [pseudonymise("alice", "pepper")] * 2
    assert pseudonymise("alice", "pepper") != pseudonymise("alice", "salt") and "alice" not in events["user_id"][0]


def test_parsers():
    assert parse_timestamp("2016-06-01") == datetime(2016, 6, 1, tzinfo=timezone.utc)
    assert parse_timestamp("2016-06-01T08:00:00+08:00") == datetime(2016, 6, 1, tzinfo=timezone.utc)
    assert parse_timestamp(0) == datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert parse_timestamp("soon") is None and parse_timestamp(float("nan")) is None and parse_timestamp("") is None
    assert [device_family(p) for p in ("Android OS 9", "iOS 16.1 (iPad13,1)", "web_player windows 10", "Windows 10", None, "zune")] == [
        "mobile", "tablet", "web", "desktop", None, "other"]


ROW = "2016-01-01T10:00:00Z,u1,mobile,s1,a,Pop,Mandarin\n"


@pytest.mark.parametrize("header", ["timestamp,user,device,song,artist,genre,language", "ts,userId,platform,trackId,artist_name,genre,lang",
                                    "TIMESTAMP,User_Id,Device,Song_Id,Artist,Genre,Language"])
def test_the_common_column_names_are_recognised(tmp_path, header):
    path = tmp_path / "log.csv"
    path.write_text(header + "\n" + ROW)
    _, events, _ = run(tmp_path, path, "canonical")
    assert events.select("user_id", "song_id", "device", "artist", "language").row(0) == ("u1", "s1", "mobile", "a", "Mandarin")


def test_other_column_names_are_mapped_by_the_columns_setting(tmp_path):
    csv_path, pq_path = tmp_path / "log.csv", tmp_path / "log.parquet"
    csv_path.write_text("when,listener_hash,track_uri\n2016-01-01T10:00:00Z,u1,s1\n")
    pl.read_csv(csv_path).write_parquet(pq_path)
    columns = {"timestamp": "when", "user_id": "listener_hash", "song_id": "track_uri"}
    for path in (csv_path, pq_path):
        report = import_log(str(path), "canonical", tmp_path / "e.parquet", tmp_path / "q.parquet", columns=columns)
        assert report.accepted == 1 and pl.read_parquet(tmp_path / "e.parquet")["user_id"].to_list() == ["u1"]
    with pytest.raises(LogInputError, match=r"missing column\(s\) timestamp, user_id, song_id; the header has when, listener_hash, "
                                            r"track_uri; accepted names \(any case\) are timestamp: timestamp, ts"):
        import_log(str(csv_path), "canonical", tmp_path / "e.parquet", tmp_path / "q.parquet")
    with pytest.raises(LogInputError, match="maps song_id to 'uri', which the header lacks"):
        import_log(str(csv_path), "canonical", tmp_path / "e.parquet", tmp_path / "q.parquet", columns={**columns, "song_id": "uri"})


def test_two_columns_that_could_be_one_field_are_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("timestamp,user,user_id,song\n2016-01-01T10:00:00Z,a,b,s1\n")
    with pytest.raises(LogInputError, match="columns user, user_id could each be user_id; name the one meant"):
        run(tmp_path, path, "canonical")
    report = import_log(str(path), "canonical", tmp_path / "e.parquet", tmp_path / "q.parquet", columns={"user_id": "user_id"})
    assert pl.read_parquet(tmp_path / "e.parquet")["user_id"].to_list() == ["b"] and report.accepted == 1


def test_csv_records_follow_rfc_4180_and_rows_count_records(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b'timestamp,user_id,song_id,artist\r\n'
                     b'2016-01-01T10:00:00Z,u1,"Song, with a comma","Say ""hi"""\r\n'  # 2: commas and doubled quotes
                     b'2016-01-01T10:05:00Z,u1,"Two\nlines",A\r\n'  # 3: one record over two lines; a line break is no name
                     b'2016-01-01T10:10:00Z,u2,s2,"Band\r\n'  # 4: a quote that never closes
                     b'2016-01-01T10:15:00Z,u3,s3,B\r\n')  # 5: read after it, not swallowed
    report, events, quarantine = run(tmp_path, path, "canonical")
    assert report.read == 4 and events.select("user_id", "song_id", "artist").rows() == [
        ("u1", "Song, with a comma", 'Say "hi"'), ("u3", "s3", "B")]
    assert reasons(quarantine) == {3: "song holds a control character (U+000A)", 4: UNTERMINATED}
    assert quarantine["raw"].to_list() == ['2016-01-01T10:05:00Z,u1,"Two\nlines",A', '2016-01-01T10:10:00Z,u2,s2,"Band']


def test_a_quote_left_open_never_invents_an_event(tmp_path):
    """The text after a line break in a quoted field is part of that field, not a row of its own."""
    path = tmp_path / "log.csv"
    path.write_text('timestamp,user_id,song_id\n2016-01-01T10:00:00Z,u1,"s1\n2016-01-01T10:05:00Z,ghost,s9"\n'
                    '2016-01-01T10:10:00Z,u2,s2\n')
    report, events, quarantine = run(tmp_path, path, "canonical")
    assert report.read == 2 and "ghost" not in events["user_id"].to_list() and events["user_id"].to_list() == ["u2"]
    assert reasons(quarantine) == {2: "song holds a control character (U+000A)"}


def test_one_column_mapped_to_two_fields_is_refused_naming_both(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("played,listener,track\n2016-01-01T10:00:00Z,u1,s1\n")
    pl.read_csv(path).write_parquet(tmp_path / "plays.parquet")
    for log in (path, tmp_path / "plays.parquet"):
        with pytest.raises(LogInputError, match="maps column 'listener' to song_id and user_id; one column holds one field"):
            import_log(str(log), "canonical", tmp_path / "e.parquet", tmp_path / "q.parquet",
                       columns={"timestamp": "played", "song_id": "listener", "user_id": "listener"})


def test_the_plan_command_refuses_a_field_given_twice_in_columns(capsys):
    from scripts import plan

    with pytest.raises(SystemExit) as stop:
        plan.main(["nowhere.csv", "--columns", "user_id=a,user_id=b"])
    assert stop.value.code == 2 and "user_id is given twice" in capsys.readouterr().err


def test_the_source_resource_passes_its_column_mapping(tmp_path):
    from pipeline.contract import StageFiles
    from resources import ListeningLogSource

    path = tmp_path / "log.csv"
    path.write_text("when,who,what\n2016-01-01T10:00:00Z,u1,s1\n")
    source = ListeningLogSource(format="canonical", path=str(path), columns={"timestamp": "when", "user_id": "who", "song_id": "what"})
    out = StageFiles("raw_events", tmp_path / "raw")
    out.folder.mkdir()
    assert source.write_events(out)["accepted"] == 1


def test_json_numbers_of_any_size_are_quarantined_rows_with_their_reason(tmp_path):
    big = "9" * 5000  # past Python's 4,300-digit conversion limit; 400 digits is past any float
    lb = tmp_path / "lb" / "listens.listens"
    lb.parent.mkdir()
    good = {"listened_at": 1464775200, "user_name": "u1", "track_metadata": {"track_name": "t", "artist_name": "a"}}
    lb.write_text("\n".join([json.dumps(good), json.dumps(good).replace("1464775200", big),
                             json.dumps(good).replace("1464775200", "9" * 400),
                             json.dumps(good).replace('"u1"', "1" + "0" * 60)]) + "\n")
    report, events, quarantine = run(tmp_path / "lb", lb, "listenbrainz")
    assert report.read == 4 and events.height == 1
    assert reasons(quarantine) == {2: "timestamp is a 5000-digit number: out of range for unix seconds",
                                   3: "timestamp is a 400-digit number: out of range for unix seconds",
                                   4: "user is a 61-digit number: out of range for an id"}
    sp = tmp_path / "sp" / "Streaming_History_Audio_2016.json"
    sp.parent.mkdir()
    row = {"ts": "2016-06-01T10:03:00Z", "ms_played": 180000, "spotify_track_uri": "spotify:track:1", "platform": "ios"}
    sp.write_text("[" + ",".join([json.dumps(row), json.dumps(row).replace("180000", big),
                                  json.dumps({**row, "ts": 0}).replace(": 0", ": " + big)]) + "]")
    report, events, quarantine = run(tmp_path / "sp", sp, "spotify")
    assert report.read == 3 and events.height == 1
    assert reasons(quarantine) == {2: "bad ms_played (a 5000-digit number)", 3: "unparsable timestamp (ts=a 5000-digit number)"}


def test_text_is_put_in_nfc_and_the_characters_of_real_names_are_kept(tmp_path):
    path = tmp_path / "log.csv"
    persian, soft, marked = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "Wasser\u00adfall", "\u200fABC"
    path.write_text("timestamp,user_id,song_id,artist\n"
                    "2016-01-01T10:00:00Z,u1,Beyonce\u0301 – Halo,Beyonce\u0301\n"  # NFD: e and a combining acute accent
                    "2016-01-01T10:05:00Z,u1,Beyonc\u00e9 – Halo,Beyonc\u00e9\n"  # NFC: é
                    f"2016-01-01T10:10:00Z,u2,s1,{persian}\n2016-01-01T10:15:00Z,u2,s2,{soft}\n2016-01-01T10:20:00Z,u2,s3,{marked}\n")
    report, events, quarantine = run(tmp_path, path, "canonical")
    assert quarantine.is_empty() and events["song_id"][:2].to_list() == ["Beyonc\u00e9 – Halo"] * 2
    assert events["artist"][2:].to_list() == [persian, soft, marked]  # a joiner, a soft hyphen, a direction mark
    assert report.as_dict()["values_normalised"] == 2 and report.as_dict()["text_form"] == "NFC"
    report, events, _ = run(tmp_path, path, "canonical", text_form="")
    assert events["song_id"].n_unique() == 5 and report.normalised == 0  # as written: two songs
    with pytest.raises(LogInputError, match="text_form 'NFD': expected one of 'NFC', 'NFKC', ''"):
        run(tmp_path, path, "canonical", text_form="NFD")


def test_a_parquet_date_column_is_read_as_its_text_would_be(tmp_path):
    from datetime import date

    frame = pl.DataFrame({"timestamp": [date(2016, 6, 1), date(2016, 6, 2)], "user_id": ["u1", "u1"], "song_id": ["s1", "s2"]})
    frame.write_parquet(tmp_path / "log.parquet")
    frame.with_columns(pl.col("timestamp").cast(pl.String)).write_csv(tmp_path / "log.csv")
    _, from_parquet, q1 = run(tmp_path, tmp_path / "log.parquet", "canonical")
    _, from_csv, q2 = run(tmp_path, tmp_path / "log.csv", "canonical")
    assert q1.is_empty() and q2.is_empty() and from_parquet.equals(from_csv)
    assert from_parquet["timestamp"].to_list() == [datetime(2016, 6, 1, tzinfo=timezone.utc), datetime(2016, 6, 2, tzinfo=timezone.utc)]


def test_the_salt_comes_from_a_named_environment_variable_and_only_its_fingerprint_is_kept(monkeypatch):
    from pipeline.ingest.pseudonyms import salt_fingerprint, salt_from
    from resources import ListeningLogSource

    assert salt_from("") == ""
    with pytest.raises(LogInputError, match="pseudonymise_salt_env names MY_SALT, which is not set"):
        salt_from("MY_SALT")  # never an import with the raw ids because a variable was forgotten
    monkeypatch.setenv("MY_SALT", "pepper")
    source = ListeningLogSource(format="canonical", path="x.csv", pseudonymise_salt_env="MY_SALT")
    assert source.import_params()["salt_env"] == "MY_SALT" and "pepper" not in json.dumps(source.import_params())
    assert source.salt_fingerprint() == salt_fingerprint("pepper") != salt_fingerprint("salt")
    assert "pepper" not in salt_fingerprint("pepper") and len(salt_fingerprint("pepper")) == 12


def test_a_reason_quotes_its_value_unless_the_log_is_pseudonymised():
    from pipeline.ingest.field_rules import Window, public, timestamp

    _, reason = timestamp("late.user0@example.com", Window())
    assert public(reason, withhold=False) == "unparsable timestamp ('late.user0@example.com'): ISO-8601 needs a date like 2016-06-01"
    assert public(reason, withhold=True) == ("unparsable timestamp (a value withheld: the log is pseudonymised): "
                                             "ISO-8601 needs a date like 2016-06-01")
