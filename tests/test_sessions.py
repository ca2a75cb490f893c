import polars as pl
import pytest
from helpers import events
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sessions.sessions import (
    rule_violations,
    rule_violations_file,
    session_table,
    sessionize,
    sessionize_file,
    user_chunks,
)


def ids(frame, **kw):
    return sessionize(frame, **kw).collect()["session_id"].to_list()


def test_gap_of_exactly_ten_minutes_starts_a_new_session():
    log = events([(0, "u", "m", "a"), (9.99, "u", "m", "b"), (19.99, "u", "m", "c")])
    # 9.99 min apart stays together; 10.00 min apart splits
    assert ids(log) == [0, 0, 1]


def test_device_change_starts_a_new_session_unless_disabled():
    log = events([(0, "u", "mobile", "a"), (3, "u", "desktop", "b"), (6, "u", "desktop", "c")])
    assert ids(log) == [0, 1, 1]
    assert ids(log, split_on_device_change=False) == [0, 0, 0]


def test_missing_device_never_counts_as_a_change():
    log = events([(0, "u", None, "a"), (3, "u", None, "b")])
    assert ids(log) == [0, 0]


def test_users_never_share_a_session_and_input_order_does_not_matter():
    log = events([(5, "v", "m", "x"), (0, "u", "m", "a"), (1, "v", "m", "y"), (2, "u", "m", "b"), (30, "u", "m", "c")])
    out = sessionize(log).collect()
    assert out.select("user_id", "song_id", "session_id").rows() == [
        ("u", "a", 0), ("u", "b", 0), ("u", "c", 1), ("v", "y", 2), ("v", "x", 2)
    ]


def test_custom_gap():
    log = events([(0, "u", "m", "a"), (4, "u", "m", "b"), (9, "u", "m", "c")])
    assert ids(log, session_gap_minutes=5) == [0, 0, 1]
    with pytest.raises(ValueError, match="positive"):
        ids(log, session_gap_minutes=0)


def test_session_table_counts_songs_and_spans():
    log = events([(0, "u", "m", "a"), (4, "u", "m", "b"), (60, "u", "t", "c")])
    table = session_table(sessionize(log)).collect()
    assert table["n_songs"].to_list() == [2, 1]
    assert table["device"].to_list() == ["m", "t"]
    assert (table["end"] - table["start"]).dt.total_minutes().to_list() == [4, 0]


def test_rule_violations_finds_tampering():
    log = events([(0, "u", "m", "a"), (4, "u", "m", "b"), (30, "u", "m", "c")])
    good = sessionize(log).collect()
    assert rule_violations(good) == {"gap_inside": 0, "device_inside": 0, "user_inside": 0, "merged": 0}
    merged_all = good.with_columns(pl.lit(0, pl.Int64).alias("session_id"))
    assert rule_violations(merged_all)["gap_inside"] == 1
    split_all = good.with_columns(pl.Series("session_id", [0, 1, 2]))
    assert rule_violations(split_all)["merged"] == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.sampled_from(["u", "v", "w"]), st.sampled_from(["m", "d", None])),
        min_size=1, max_size=40,
        unique_by=lambda t: (t[0], t[1]),  # input order only decides ties at one timestamp
    ),
    st.randoms(use_true_random=False),
)
def test_every_event_in_one_session_by_the_rule_whatever_the_order(rows, rnd):
    log = events([(m, u, d, f"s{i}") for i, (m, u, d) in enumerate(rows)])
    out = sessionize(log).collect()
    assert out.height == log.height and set(out["song_id"]) == set(log["song_id"])
    assert not any(rule_violations(out).values())
    shuffled = log.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 10**6))
    again = sessionize(shuffled).collect()
    # Same partition of events into sessions (ties at equal timestamps may swap order inside a session).
    def partition(frame):
        return sorted(tuple(sorted(g)) for g in frame.group_by("session_id").agg("song_id")["song_id"].to_list())
    assert partition(out) == partition(again)


def test_user_chunks_are_contiguous_and_bounded():
    counts = pl.DataFrame({"user_id": ["a", "b", "c", "d", "e"], "len": [3, 4, 9, 1, 1]})
    # a+b = 7 fits in 8; c alone is over 8 and gets a chunk of its own; d+e = 2
    assert user_chunks(counts, 8) == [("a", "b", 7), ("c", "c", 9), ("d", "e", 2)]


def test_sessionize_file_in_chunks_equals_sessionize_in_memory(tmp_path):
    from pipeline.contract import StageFiles
    from pipeline.ingest.synthetic import SyntheticConfig, generate

    raw = StageFiles("raw_events", tmp_path / "raw")
    generate(SyntheticConfig(n_users=12, n_songs=200, n_artists=20), raw)
    # shuffle the rows, so that chunks must find their users all over the file and ties keep input order
    log = pl.read_parquet(raw["events"]).sample(fraction=1.0, shuffle=True, seed=3)
    log.write_parquet(tmp_path / "shuffled.parquet", row_group_size=500)
    expected = sessionize(log).collect()
    counts = sessionize_file(tmp_path / "shuffled.parquet", tmp_path / "out.parquet", rows_per_chunk=1_000)
    got = pl.read_parquet(tmp_path / "out.parquet")
    assert counts["chunks"] > 3
    assert counts == {"events": log.height, "sessions": expected["session_id"].n_unique(), "chunks": counts["chunks"]}
    assert got.equals(expected)
    assert not list(tmp_path.glob(".*partial*"))


def test_rule_check_of_a_file_in_batches_counts_pairs_across_borders(tmp_path):
    log = events([(0, "u", "m", "a"), (5, "u", "m", "b"), (40, "u", "m", "c"), (41, "u", "d", "e"), (0, "v", "m", "f")])
    good = sessionize(log).collect()
    # Tamper: merge sessions 1 and 2 (a device change inside), and split session 0 (a merge missed).
    bad = good.with_columns(pl.Series("session_id", [0, 9, 1, 1, 3]))
    bad.write_parquet(tmp_path / "s.parquet")
    expected = rule_violations(bad)
    assert expected["device_inside"] == 1 and expected["merged"] == 1
    for rows in (1, 2, 3, 100):
        assert rule_violations_file(tmp_path / "s.parquet", batch_rows=rows) == expected
