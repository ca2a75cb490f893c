"""`make paper`'s runner: bounded steps that survive being killed (a real kill, a real rerun)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
    assert (home / "store" / "graph_uss" / "adjacency.npz").exists()
    assert not list((home / "store").rglob(".*partial*"))

    other = subprocess.run([sys.executable, "-m", "scripts.paper", "--home", str(home), *SIZE[:-2], "--workers", "2"], cwd=ROOT,
                           capture_output=True, text=True)
    assert other.returncode != 0 and "belongs to a run with other settings" in other.stderr
