"""A run ends its own MLflow parent run, with no Dagster daemon: ``dagster asset materialize`` on the command line,
as a user types it, against a real local instance and MLflow store (assets.executor)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assets.executor import ending
from resources import MlflowTracking

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"resources": {"source": {"config": {"n_users": 6, "n_songs": 80, "n_artists": 8}}, "settings": {"config": {"seed": 5}}}}


def test_the_ending_says_what_failed_first():
    assert ending([], False, None) == ("FINISHED", {})
    assert ending([("sessions", "Traceback\n  ValueError: gap must be > 0\n"), ("sessions", "again"), ("splits", "x")], False, None) == (
        "FAILED", {"failed_step": "sessions, splits", "error": "Traceback"})
    assert ending([], False, "OSError: no space")[1] == {"failed_step": "(orchestration)", "error": "OSError: no space"}
    assert ending([("walks_uss", "x")], True, None) == ("KILLED", {"dagster_end": "cancelled"})
    assert ending([("a", "\n\n")], False, None)[1]["error"] == "no message"


@pytest.fixture
def home(tmp_path):
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text((ROOT / "scripts" / "dagster.yaml").read_text())
    return tmp_path


def materialize(home: Path, select: str, config: dict) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DAGSTER_", "LATENT_"))},
           "LATENT_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    return subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "assets.definitions", "--select", select,
                           "--config-json", json.dumps(config)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def parents(home: Path) -> dict[str, object]:
    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    runs = mlflow.client().search_runs([mlflow.experiment_id()], filter_string="tags.kind = 'pipeline'")
    return {r.data.tags["dagster_assets"]: r for r in runs}


def test_a_command_line_run_ends_its_mlflow_run_finished_or_failed_with_the_step_and_error(home):
    done = materialize(home, "raw_events", SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    failing = {**SMALL, "ops": {"sessions": {"config": {"session_gap_minutes": -1.0}}}}
    failed = materialize(home, "raw_events,sessions", failing)
    assert failed.returncode != 0
    runs = parents(home)
    assert runs["raw_events"].info.status == "FINISHED" and runs["raw_events"].info.end_time
    # named at the start by the log, the seed, what the run overrode and its assets
    assert runs["raw_events"].info.run_name.startswith("synthetic 6 users · seed 5 · source.n_artists=8 · source.n_songs=80 · raw_events · ")
    bad = runs["raw_events, sessions"]
    assert bad.info.status == "FAILED"
    assert bad.data.tags["failed_step"] == "sessions"
    assert "session" in bad.data.tags["error"] and "\n" not in bad.data.tags["error"]
    assert "sessions.session_gap_minutes=-1.0" in bad.info.run_name
