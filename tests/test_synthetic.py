import polars as pl
import pytest

from pipeline.contract import StageFiles
from pipeline.ingest.synthetic import EVENT_SCHEMA, LANGUAGES, SyntheticConfig, generate
from pipeline.sessions.sessions import rule_violations, sessionize

SMALL = SyntheticConfig(n_users=12, n_songs=300, n_artists=30, users_per_block=5, seed=3)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    d = tmp_path_factory.mktemp("syn")
    files = StageFiles("raw_events", d)
    return files, generate(SMALL, files)


def test_schema_counts_and_truth(log):
    files, summary = log
    events = pl.read_parquet(files["events"])
    assert dict(events.schema) == EVENT_SCHEMA
    assert summary["events"] == events.height and events["user_id"].n_unique() == 12
    assert set(events["language"].unique()) <= set(LANGUAGES)
    truth = pl.read_parquet(files["truth_users"])
    assert truth.height == 12 and set(truth["kind"]) <= {"single", "dynamic"}
    assert (truth.filter(pl.col("dependence") == "device")["devices"].str.count_matches(",") >= 1).all()


def test_sessions_as_planted(log):
    files, summary = log
    events = sessionize(pl.scan_parquet(files["events"])).collect()
    assert events["session_id"].n_unique() == summary["sessions"]
    assert not any(rule_violations(events).values())
    lengths = events.group_by("session_id").len()["len"]
    assert lengths.max() <= SMALL.max_session_songs
    assert events["timestamp"].min().year == 2016 and events["timestamp"].max().month == 6


def test_seed_fixes_the_log(tmp_path, log):
    files, _ = log
    again = StageFiles("raw_events", tmp_path)
    generate(SMALL, again)
    assert pl.read_parquet(again["events"]).equals(pl.read_parquet(files["events"]))


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="n_artists"):
        SyntheticConfig(n_songs=5, n_artists=10)
