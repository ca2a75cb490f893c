"""`make paper`'s runner: bounded steps that survive being killed (a real kill, a real rerun)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from paper_run.stages import store_of

ROOT = Path(__file__).resolve().parent.parent
SIZE = ["--users", "40", "--songs", "600", "--artists", "60", "--mean-session-songs", "14", "--workers", "1"]


def runner(home: Path, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scripts.paper", "--home", str(home), *SIZE, *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def ledger(home: Path) -> dict:
    return json.loads((home / "paper-run.json").read_text())


def test_a_killed_step_is_counted_and_the_rerun_finishes_without_redoing_done_stages(tmp_path):
    home = tmp_path / "run"
    first = runner(home, "--until", "graph_uss", start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until the step is inside graph_uss, then kill it all
        if (home / "paper-run.json").exists() and ledger(home)["stages"].get("graph_uss", {}).get("status") == "running":
            break
        assert first.poll() is None, first.stdout.read()
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before = ledger(home)["stages"]
    assert [before[s]["status"] for s in ("raw_events", "sessions", "splits")] == ["done"] * 3
    assert before["graph_uss"]["status"] == "running"

    second = runner(home, "--until", "graph_uss")
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    assert "interrupted" in out and "complete up to graph_uss" in out
    after = ledger(home)["stages"]
    assert after["graph_uss"]["status"] == "done"
    assert after["graph_uss"]["interrupted"] == 1 and after["graph_uss"]["attempts"] == 2
    assert all(after[s]["attempts"] == 1 and after[s]["interrupted"] == 0 for s in ("raw_events", "sessions", "splits"))
    assert all(after[s]["peak_rss_mb"] > 50 and after[s]["seconds"] > 0 for s in ("raw_events", "sessions", "splits", "graph_uss"))
    from assets.stage_io import latest
    from paper_run.stages import instance_of

    instance = instance_of(home)
    assert latest(instance)["graph_uss"]["adjacency"].exists()
    assert not list((home / "store").rglob(".*partial*"))  # the killed attempt's folder was removed
    graph_runs = instance.get_runs(dg.RunsFilter(tags={"paper_scale_stage": "graph_uss"}))
    # the killed attempt's run, if it had started, is marked failed, not STARTED for ever
    assert sorted(r.status.value for r in graph_runs) in (["SUCCESS"], ["FAILURE", "SUCCESS"])
    assert len(list(store_of(home).runs("graph_uss").iterdir())) == 1

    other = subprocess.run([sys.executable, "-m", "scripts.paper", "--home", str(home), *SIZE[:-2], "--workers", "2"], cwd=ROOT,
                           capture_output=True, text=True)
    assert other.returncode != 0 and "belongs to a run with other settings" in other.stderr


def test_the_summary_sets_bare_training_against_everything_else(tmp_path):
    from paper_run.report import training_summary, training_times_of

    store = store_of(tmp_path)
    done = store.version("embedding_uss", "run-1")
    done.folder.mkdir(parents=True)
    done["params"].write_text(json.dumps({"train_seconds_all_attempts": 3000.0, "checkpoint_seconds_all_attempts": 120.0,
                                          "units_timed": 20, "units_total": 20}))
    going = store.checkpoints("embedding_us") / "k"
    going.mkdir(parents=True)
    (going / "state.json").write_text(json.dumps({"units_done": 2, "units_total": 20, "unit_seconds": [400.0, 200.0],
                                                  "checkpoint_seconds": [30.0, 30.0]}))
    times = training_times_of({"embedding_uss": done}, store)
    assert times == {"embedding_us": {"train_seconds": 600.0, "checkpoint_seconds": 60.0, "units_timed": 2, "units_total": 20},
                     "embedding_uss": {"train_seconds": 3000.0, "checkpoint_seconds": 120.0, "units_timed": 20, "units_total": 20}}
    # 3600 s of bare training in 4500 s of stages: the rest adds 900 / 3600 = 25 %.
    data = {"stages": {"raw_events": {"seconds": 500.0, "interrupted": 0, "lost_seconds": 0.0},
                       "embedding_uss": {"seconds": 3400.0, "interrupted": 2, "lost_seconds": 300.0},
                       "embedding_us": {"seconds": 600.0, "interrupted": 0, "lost_seconds": 0.0}},
            "steps": [{"ended": "2026-01-01T00:00:00", "seconds": 4000.0}, {"ended": "interrupted"}, {"ended": "x", "seconds": 500.0}]}
    text = training_summary(data, times)
    assert "interruptions survived: 2 (work lost after the last checkpoints: 5 min" in text
    assert "steps: 3 (1 killed midway); the longest that ended by itself took 67 min" in text
    assert "embedding_us 2/20, embedding_uss 20/20" in text
    assert "60.0 min; checkpoints 3.0 min; what everything else adds is given once every shard" in text  # 18 shards untimed
    times["embedding_us"]["units_total"] = 2
    times["embedding_uss_2d"] = {"train_seconds": 0.0, "checkpoint_seconds": 0.0, "units_timed": 0, "units_total": 0}
    assert "60.0 min; checkpoints 3.0 min; everything else adds 25 %" in training_summary(data, times)


def test_a_killed_training_keeps_the_time_up_to_its_last_checkpoint(tmp_path):
    from paper_run.ledger import Ledger

    state = store_of(tmp_path).checkpoints("embedding_us") / "k" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    os.utime(state, (1500.0, 1500.0))  # the last checkpoint, 500 s into the attempt
    book = Ledger(tmp_path / "paper-run.json", {})
    for name, started, heartbeat in [("embedding_us", 1000.0, 1900.0), ("metrics", 100.0, 160.0)]:
        book.stage(name).update(status="running", seconds=20.0, started=started, heartbeat=heartbeat)
    book.recover()
    training, other = book.stage("embedding_us"), book.stage("metrics")
    assert (training["seconds"], training["lost_seconds"], training["interrupted"], training["status"]) == (520.0, 400.0, 1, "pending")
    assert (other["seconds"], other["lost_seconds"], other["interrupted"]) == (20.0, 60.0, 1)


def test_the_runs_of_a_killed_step_are_marked_failed(tmp_path):
    from paper_run.runner import fail_killed_runs
    from paper_run.stages import instance_of

    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text((ROOT / "scripts" / "dagster.yaml").read_text())
    instance = instance_of(tmp_path)
    for run_id, stage, status in [("killed", "walks_uss", "STARTED"), ("done", "splits", "SUCCESS"), ("other", None, "STARTED")]:
        tags = {"paper_scale_stage": stage} if stage else {}
        instance.add_run(dg.DagsterRun(job_name="latent_space_pipeline", run_id=run_id, status=dg.DagsterRunStatus(status), tags=tags))
    assert fail_killed_runs(tmp_path) == ["killed"]
    status = {r: instance.get_run_by_id(r).status.value for r in ("killed", "done", "other")}
    assert status == {"killed": "FAILURE", "done": "SUCCESS", "other": "STARTED"}  # only the paper runner's own runs


def test_the_stage_order_is_the_asset_graphs_with_the_evaluation_first():
    from paper_run.stages import RUN_ORDER
    from pipeline.contract import STAGES as CONTRACT

    order = [name for name, _ in RUN_ORDER]
    assert sorted(order) == sorted(CONTRACT)
    assert all(set(CONTRACT[s].reads) <= set(order[:i]) for i, s in enumerate(order))  # every stage after what it reads
    assert dict(RUN_ORDER)["raw_events"] == ["raw_events", "quarantine"]
    assert order.index("metrics") < min(order.index(s) for s in ("embedding_uss_2d", "plots", "explorer"))
    assert order.index("behaviour") < order.index("metrics")  # the metrics' strata read the users' kinds


def test_train_shards_reaches_every_training_and_marks_the_ledger(tmp_path):
    import pytest

    from paper_run.ledger import Ledger
    from paper_run.runner import run_config

    class Args:
        users, songs, artists, mean_session_songs, workers, train_shards, trainer = 40, 600, 60, 14.0, 1, 2, "gensim"
        tune_skipgram = None

    assert run_config("embedding_uss_2d", Args, 600.0)["ops"]["embedding_uss_2d"]["config"] == {"max_train_seconds": 600.0,
                                                                                                "train_shards": 2}
    Args.trainer = "numba"
    assert run_config("embedding_us", Args, 0.0)["ops"]["embedding_us"]["config"]["trainer"] == "numba"
    Args.trainer = "gensim"
    assert "ops" not in run_config("metrics", Args, 0.0)  # nothing else trains
    home = tmp_path / "run"
    quick = runner(home, "--train-shards", "2", "--until", "raw_events")
    out, _ = quick.communicate(timeout=600)
    assert quick.returncode == 0, out
    settings = ledger(home)["settings"]
    assert settings["train_shards"] == 2
    with pytest.raises(SystemExit, match="other settings"):  # a quick run's ledger is never continued as a full one
        Ledger(home / "paper-run.json", {k: v for k, v in settings.items() if k != "train_shards"})


def test_tune_skipgram_enables_the_grid_with_the_runs_trainer_and_refuses_unknown_axes():
    from paper_run.runner import _grid_arg, run_config

    class Args:
        users, songs, artists, mean_session_songs, workers, train_shards, trainer = 40, 600, 60, 14.0, 1, 0, "numba"
        tune_skipgram = _grid_arg('{"epochs": [1, 3], "window": [6, 10]}')

    assert run_config("skipgram_tuning", Args, 0.0)["ops"]["skipgram_tuning"]["config"] == {
        "enabled": True, "trainer": "numba", "epochs": [1, 3], "window": [6, 10]}
    Args.tune_skipgram = None
    assert "ops" not in run_config("skipgram_tuning", Args, 0.0)  # off: the asset's own default
    refused = subprocess.run([sys.executable, "-m", "scripts.paper", "--tune-skipgram", '{"epoch": [3]}'], cwd=ROOT,
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "a JSON object of epochs, alpha, window" in refused.stderr
