"""A contract ``dataset`` is one file or a folder of parts (as Spark's executors write it): every reader takes either
and reads the same table, adjacency or walks, in part-name order. Hand-made parts whose concatenation is known."""

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.contract import STAGES, StageFiles
from pipeline.io import file_digest, parquet_parts
from pipeline.network.graph import adjacency_block, adjacency_vertices, load_adjacency
from pipeline.network.walk_reader import WalkFileError, one_walk_file, read_walk_blocks
from pipeline.network.walks import read_walks
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
    with pytest.raises(FileNotFoundError, match="a dataset folder without parts"):
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


def test_the_big_outputs_are_the_datasets():
    datasets = {(s.name, key) for s in STAGES.values() for key, f in s.files.items() if f.dataset}
    assert datasets == {("raw_events", "events"), ("raw_events", "quarantine"), ("sessions", "events"), ("sessions", "sessions"),
                        ("splits", "train"), ("splits", "test"),
                        *((f"graph_{n}", k) for n in ("uss", "us") for k in ("adjacency", "vertices")),
                        ("walks_uss", "shard"), ("walks_us", "shard")}


# Edges 0-1, 0-2, 1-2, 2-3 and vertex 4 alone: neighbours 0:[1 2] 1:[0 2] 2:[0 1 3] 3:[2] 4:[]
INDPTR, INDICES = np.array([0, 2, 4, 7, 8, 8]), np.array([1, 2, 0, 2, 0, 1, 3, 2])


def test_an_adjacency_in_blocks_loads_as_the_one_file(tmp_path):
    """Two blocks (sources 0-1 and 2-3; written in either order) give the CSR worked out by hand, as the one .npz does;
    the vertex no block holds has no neighbours."""
    np.savez(tmp_path / "one.npz", indptr=INDPTR, indices=INDICES.astype(np.int32))
    folder = tmp_path / "adjacency.npz"
    folder.mkdir()
    src, dst = np.array([0, 0, 1, 1, 2, 2, 2, 3]), INDICES
    np.savez(folder / "part-00000.npz", **adjacency_block(src[4:], dst[4:], 5))
    np.savez(folder / "part-00001.npz", **adjacency_block(src[:4], dst[:4], 5))
    assert adjacency_block(src[4:], dst[4:], 5)["degree"].tolist() == [3, 1]
    for path in (tmp_path / "one.npz", folder):
        indptr, indices = load_adjacency(path)
        assert indptr.tolist() == INDPTR.tolist() and indices.tolist() == INDICES.tolist() and indices.dtype == np.int32
        assert adjacency_vertices(path) == 5
    np.savez(folder / "part-00002.npz", **adjacency_block(np.array([1]), np.array([2]), 5))  # vertex 1 twice
    with pytest.raises(ValueError, match="part-0000[12].npz: vertices 1-1 of 5 overlap another block"):
        load_adjacency(folder)
    with pytest.raises(ValueError, match="sorted by source"):
        adjacency_block(np.array([2, 1]), np.array([0, 0]), 5)


def test_a_pass_of_walks_in_parts_reads_as_the_one_file(tmp_path):
    """Every walk reader takes a pass written as parts (Spark's tasks) as it takes the one file; gensim's joined copy
    lives only while it is used; a part cut mid-line is refused by name."""
    lines = [b"0 1 2\n", b"3 2\n", b"4\n", b"1 0 1 0\n"]
    (tmp_path / "pass-000.txt").write_bytes(b"".join(lines))
    folder = tmp_path / "parts" / "pass-000.txt"
    folder.mkdir(parents=True)
    (folder / "part-000000000000.txt").write_bytes(b"".join(lines[:3]))
    (folder / "part-000000000003.txt").write_bytes(lines[3])
    (folder / ".part-000000000006.txt.partial-1").write_bytes(b"9 9\n")  # a task's unfinished write: not a part
    for path in (tmp_path / "pass-000.txt", folder):
        blocks = np.concatenate([b[b >= 0] for b in read_walk_blocks(path, 5, chunk_bytes=4)])
        assert blocks.tolist() == [0, 1, 2, 3, 2, 4, 1, 0, 1, 0]
        assert [w.tolist() for w in read_walks(path, limit=2)] == [[0, 1, 2], [3, 2]]
    with one_walk_file(folder, tmp_path) as joined:
        assert joined.read_bytes() == b"".join(lines) and joined.parent.parent == tmp_path
    assert not joined.exists()
    with one_walk_file(tmp_path / "pass-000.txt") as same:
        assert same == tmp_path / "pass-000.txt"
    (folder / "part-000000000003.txt").write_bytes(b"1 0 1")
    with pytest.raises(WalkFileError, match="part-000000000003.txt: line 1 has no newline"):
        list(read_walk_blocks(folder, 5))
