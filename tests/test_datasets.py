"""A contract ``dataset`` is one Parquet file or a folder of parts (as Spark's executors write it): every reader takes
either and reads the same table, in part-name order. Hand-made parts whose concatenation is known."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.contract import STAGES, StageFiles
from pipeline.io import file_digest, parquet_parts
from pipeline.sessions.sessions import rule_violations_file, sessions


def _events(n: int, user: str, start_minute: int) -> pl.DataFrame:
    return pl.DataFrame({
        "timestamp": pl.datetime_range(pl.datetime(2016, 1, 1, 0, start_minute, time_zone="UTC"),
                                       pl.datetime(2016, 1, 1, 0, start_minute + n - 1, time_zone="UTC"), "1m", eager=True),
        "user_id": [user] * n, "device": ["web"] * n, "song_id": [f"s{i}" for i in range(n)],
        "artist": ["a"] * n, "genre": ["Pop"] * n, "language": ["English"] * n,
    }).cast({"timestamp": pl.Datetime("us", "UTC")})


def test_the_parts_of_a_dataset_run_in_name_order_and_spark_markers_are_not_parts(tmp_path):
    folder = tmp_path / "events.parquet"
    folder.mkdir()
    for name, frame in (("part-00001.parquet", _events(2, "u2", 0)), ("part-00000.parquet", _events(3, "u1", 0))):
        frame.write_parquet(folder / name)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00002.parquet.crc").write_text("")
    assert [p.name for p in parquet_parts(folder)] == ["part-00000.parquet", "part-00001.parquet"]
    assert parquet_parts(tmp_path / "one.parquet") == [tmp_path / "one.parquet"]
    assert pl.read_parquet(folder)["user_id"].to_list() == ["u1"] * 3 + ["u2"] * 2
    (tmp_path / "empty.parquet").mkdir()
    with pytest.raises(FileNotFoundError, match="a Parquet dataset without parts"):
        parquet_parts(tmp_path / "empty.parquet")


def test_the_local_sessions_stage_reads_a_dataset_as_it_reads_the_one_file(tmp_path):
    """Raw events written by Spark's executors (two parts) and by the local engine (one file) give the same sessions,
    and a folder's digest follows its parts' bytes."""
    u1, u2 = _events(3, "u1", 0), _events(2, "u2", 30)
    as_file, as_parts = StageFiles("raw_events", tmp_path / "file"), StageFiles("raw_events", tmp_path / "parts")
    as_file.folder.mkdir()
    pl.concat([u1, u2]).write_parquet(as_file["events"])
    as_parts["events"].mkdir(parents=True)
    u1.write_parquet(as_parts["events"] / "part-00000.parquet")
    u2.write_parquet(as_parts["events"] / "part-00001.parquet")
    outs = []
    for name, raw in (("file", as_file), ("parts", as_parts)):
        out = StageFiles("sessions", tmp_path / f"sessions-{name}")
        out.folder.mkdir()
        assert sessions({"raw_events": raw}, out)["sessions"] == 2
        outs.append(out)
    assert_frame_equal(pl.read_parquet(outs[0]["events"]), pl.read_parquet(outs[1]["events"]))
    sessionized, parts = pl.read_parquet(outs[0]["events"]), tmp_path / "sessionized.parquet"
    parts.mkdir()
    sessionized.head(2).write_parquet(parts / "part-00000.parquet")  # a part border inside u1's session
    sessionized.tail(3).write_parquet(parts / "part-00001.parquet")
    assert rule_violations_file(parts, 10.0) == rule_violations_file(outs[0]["events"], 10.0)
    # events a minute apart: a 1-minute gap breaks u1's two pairs (one across the part border) and u2's one
    assert rule_violations_file(parts, 2.0)["gap_inside"] == 0 and rule_violations_file(parts, 1.0)["gap_inside"] == 3
    before = file_digest(as_parts["events"])
    u2.with_columns(pl.lit("x").alias("song_id")).write_parquet(as_parts["events"] / "part-00001.parquet")
    assert file_digest(as_parts["events"]) != before


def test_the_big_tables_are_the_datasets():
    datasets = {(s.name, key) for s in STAGES.values() for key, f in s.files.items() if f.dataset}
    assert datasets == {("raw_events", "events"), ("raw_events", "quarantine"), ("sessions", "events"), ("sessions", "sessions"),
                        ("splits", "train"), ("splits", "test")}
