"""`make ui`'s script starts the Dagster and MLflow servers on 127.0.0.1 and stops both within seconds on SIGTERM."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_both_servers_start_and_stop_on_sigterm(tmp_path):
    dagster_port, mlflow_port = free_port(), free_port()
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text((ROOT / "scripts" / "dagster.yaml").read_text())
    env = {**os.environ, "LATENT_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster"), "DAGSTER_PORT": str(dagster_port),
           "MLFLOW_PORT": str(mlflow_port), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "VENV": str(Path(os.sys.executable).parent.parent)}
    log = open(tmp_path / "ui.log", "w")
    ui = subprocess.Popen(["bash", "scripts/ui.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (answers(f"http://127.0.0.1:{dagster_port}/server_info") and answers(f"http://127.0.0.1:{mlflow_port}/health")):
            assert ui.poll() is None and time.monotonic() < deadline, (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(1)
        os.kill(ui.pid, signal.SIGTERM)
        started = time.monotonic()
        ui.wait(timeout=30)
        while answers(f"http://127.0.0.1:{dagster_port}/server_info") or answers(f"http://127.0.0.1:{mlflow_port}/health"):
            assert time.monotonic() - started < 20, "a server still answers 20 s after SIGTERM"
            time.sleep(0.5)
        assert not group_alive(ui.pid)
    finally:
        if group_alive(ui.pid):
            os.killpg(ui.pid, signal.SIGKILL)
        log.close()
