"""Each real-log format through the whole pipeline: the synthetic log rendered in that format, with
malformed rows mixed in, imported, sessionized, split, embedded and evaluated."""

import json
from datetime import timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from helpers import materialize_all

from assets.definitions import new_files_sensor
from pipeline.contract import StageFiles
from pipeline.ingest.pseudonyms import salt_fingerprint
from pipeline.ingest.synthetic import SyntheticConfig, generate
from resources import ListeningLogSource

PLATFORMS = {"mobile": "Android OS 13", "desktop": "Windows 10 (10.0.19045)", "tablet": "iOS 16.1 (iPad13,1)",
             "web": "web_player linux", "tv": "Chromecast TV"}
BAD_ROWS = 3  # each writer appends this many malformed rows


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> pl.DataFrame:
    d = tmp_path_factory.mktemp("synthetic")
    raw = StageFiles("raw_events", d)
    generate(SyntheticConfig(n_users=30, n_songs=400, n_artists=40), raw)
    return pl.read_parquet(raw["events"])


def iso(ts) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_canonical(events: pl.DataFrame, folder: Path) -> str:
    path = folder / "log.csv"
    events.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")).write_csv(path)
    with open(path, "a") as fh:
        fh.write("not-a-time,u1,mobile,s1,a,Pop,English\n,,mobile,s1,a,Pop,English\n2016-01-01,u1,mobile\n")
    return str(path)


def write_lastfm(events: pl.DataFrame, folder: Path) -> str:
    path = folder / "userid-timestamp-artid-artname-traid-traname.tsv"
    with open(path, "wb") as fh:
        for r in events.iter_rows(named=True):
            fh.write(f"{r['user_id']}\t{iso(r['timestamp'])}\t\t{r['artist']}\t{r['song_id']}\tSong\n".encode())
        fh.write(b"u1\t2016-01-01T00:00:00Z\tonly four\n\xff\xfe\t\t\t\t\t\nu1\tyesterday\t\ta\ts1\tt\n")
    return str(path)


def write_spotify(events: pl.DataFrame, folder: Path) -> str:
    for (user,), rows in events.group_by("user_id"):
        (folder / user).mkdir()
        # ts is when playback ended: start + ms_played
        records = [{"ts": iso(r["timestamp"] + timedelta(milliseconds=180000)),
                    "platform": PLATFORMS[r["device"]], "ms_played": 180000, "spotify_track_uri": f"spotify:track:{r['song_id']}",
                    "master_metadata_album_artist_name": r["artist"]} for r in rows.iter_rows(named=True)]
        (folder / user / "Streaming_History_Audio_2016.json").write_text(json.dumps(records))
    extra = folder / "podcaster"
    extra.mkdir()
    (extra / "Streaming_History_Audio_2016.json").write_text(json.dumps([
        {"ts": "2016-02-01T10:00:00Z", "ms_played": 1000, "spotify_track_uri": None, "episode_name": "A show"},
        {"ts": "later", "ms_played": 1000, "spotify_track_uri": "spotify:track:x"},
        {"ts": "2016-02-01T10:00:00Z", "ms_played": "long", "spotify_track_uri": "spotify:track:x"},
    ]))
    return str(folder)


def write_listenbrainz(events: pl.DataFrame, folder: Path) -> str:
    path = folder / "2016.listens"
    with open(path, "w") as fh:
        for r in events.iter_rows(named=True):
            fh.write(json.dumps({"listened_at": int(r["timestamp"].timestamp()), "user_name": r["user_id"],
                                 "track_metadata": {"artist_name": r["artist"], "track_name": "Song",
                                                    "additional_info": {"recording_mbid": r["song_id"]}}}) + "\n")
        fh.write("{oops\n[]\n" + json.dumps({"listened_at": 1, "track_metadata": {}}) + "\n")
    return str(path)


WRITERS = {"canonical": write_canonical, "lastfm-1k": write_lastfm, "spotify": write_spotify, "listenbrainz": write_listenbrainz}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_format_runs_through_the_whole_pipeline(fmt, synthetic, tmp_path):
    src = tmp_path / "input"
    src.mkdir()
    path = WRITERS[fmt](synthetic, src)
    run = materialize_all(tmp_path, ListeningLogSource(format="auto" if fmt == "spotify" else fmt, path=path))
    assert run.result.success
    assert all(e.passed for e in run.result.get_asset_check_evaluations())
    summary = json.loads(run.files("raw_events")["summary"].read_text())
    assert summary["read"] == synthetic.height + BAD_ROWS
    assert summary["quarantined"] == BAD_ROWS and summary["accepted"] == synthetic.height
    assert summary["has_device"] == (fmt in ("canonical", "spotify"))
    metrics = pl.read_parquet(run.files("metrics")["metrics"])
    proposed = metrics.filter((pl.col("experiment") == "exp1") & (pl.col("method") == "proposed"))["recall"]
    rand = metrics.filter((pl.col("experiment") == "exp1") & (pl.col("method") == "random"))["recall"]
    assert (proposed > rand).all()


def test_sensor_takes_each_new_file_once(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "a.listens").write_text("{}\n")
    source = ListeningLogSource(format="listenbrainz", path=str(folder))
    sensor = new_files_sensor
    first = sensor(dg.build_sensor_context(resources={"source": source}))
    assert isinstance(first, dg.RunRequest)
    assert first.run_config["ops"]["splits"]["config"]["cutoff"] == "auto"  # a real log's runs take the planner's cutoff
    context = dg.build_sensor_context(resources={"source": source})
    sensor(context)
    again = sensor(dg.build_sensor_context(cursor=context.cursor, resources={"source": source}))
    assert isinstance(again, dg.SkipReason) and "no new files" in again.skip_message
    (folder / "b.listens").write_text("{}\n")
    third = sensor(dg.build_sensor_context(cursor=context.cursor, resources={"source": source}))
    assert isinstance(third, dg.RunRequest) and third.tags["new_files"] == "1" and third.run_key != first.run_key
    skipped = sensor(dg.build_sensor_context(resources={"source": ListeningLogSource()}))
    assert isinstance(skipped, dg.SkipReason)


def test_the_sensor_watches_the_log_that_runs_read(tmp_path):
    """Pointing runs at a log by $LATENT_LOG_PATH points the new-file sensor at it too."""
    from assets.definitions import default_resources

    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "2016.listens").write_text("{}\n")
    source = default_resources({"LATENT_LOG_PATH": str(folder), "LATENT_LOG_FORMAT": "listenbrainz"})["source"]
    assert (source.format, source.path) == ("listenbrainz", str(folder))
    assert isinstance(new_files_sensor(dg.build_sensor_context(resources={"source": source})), dg.RunRequest)
    assert default_resources({})["source"].format == "synthetic"  # nothing set: the embedded default


def test_a_pseudonymised_log_leaves_no_raw_user_id_anywhere(synthetic, tmp_path, monkeypatch):
    """With a salt, no listener's id, nor the salt, reaches anything the project writes: files, Dagster's storage,
    MLflow, logs (Parquet read decompressed)."""
    users = {u: f"{u}@example.com" for u in synthetic["user_id"].unique().to_list()}  # e-mail addresses as listeners
    src = tmp_path / "input"
    src.mkdir()
    write_spotify(synthetic.with_columns(pl.col("user_id").replace_strict(users)), src)  # a folder per listener
    broken = src / users["u00"] / "Streaming_History_Audio_2017.json"
    broken.write_text(json.dumps([{"ts": "soon", "ms_played": 1, "spotify_track_uri": "spotify:track:x", "username": users["u00"]},
                                  {"ts": users["u01"], "ms_played": 1, "spotify_track_uri": "spotify:track:y", "username": users["u00"]},
                                  {"ts": "2017-01-01T00:00:00Z", "ms_played": users["u02"], "spotify_track_uri": "y"}]))
    (tmp_path / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster"))
    monkeypatch.setenv("LISTENERS_SALT", "pepper-4f0c2a")
    run = materialize_all(tmp_path, ListeningLogSource(format="spotify", path=str(src), pseudonymise_salt_env="LISTENERS_SALT"),
                          instance=instance)
    assert run.result.success
    quarantine = pl.read_parquet(run.files("raw_events")["quarantine"])
    assert quarantine.height > 0 and set(quarantine["raw"]) == {"(withheld: the log is pseudonymised)"}
    # the reasons say which rule, not the value (an id in a timestamp's or a duration's place)
    assert {"unparsable timestamp (ts=a value withheld: the log is pseudonymised)",
            "bad ms_played (a value withheld: the log is pseudonymised)"} <= set(quarantine["reason"])
    summary = json.loads(run.files("raw_events")["summary"].read_text())
    assert summary["pseudonymised"] and summary["salt_fingerprint"] == salt_fingerprint("pepper-4f0c2a")
    raw_ids = [v.encode() for v in users.values()] + [u.split("@")[0].encode() + b"@" for u in users.values()] + [b"pepper-4f0c2a"]
    leaks = []
    for path in tmp_path.rglob("*"):
        if not path.is_file() or src in path.parents:
            continue
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            blob = "\n".join(str(v) for c in frame.columns for v in frame[c].cast(pl.String, strict=False).to_list()).encode()
        else:
            blob = path.read_bytes()
        leaks += [f"{path.relative_to(tmp_path)}: {i.decode()}" for i in raw_ids if i in blob]
    assert leaks == []
