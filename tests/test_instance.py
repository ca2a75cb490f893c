"""The local Dagster instance (assets.instance): two commands started together in a fresh home both open it; a
read-only home is one message naming it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPEN = "from assets.instance import local_instance; local_instance().get_runs(limit=1); print('opened')"


def test_two_processes_create_a_fresh_instance_together(tmp_path):
    for attempt in range(4):  # without the lock, one of a pair died creating the tables about 1 time in 8
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        shutil.copy(ROOT / "scripts" / "dagster.yaml", home / "dagster.yaml")  # as make writes it
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        pair = [subprocess.Popen([sys.executable, "-c", OPEN], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120)[0] for p in pair]
        assert [p.returncode for p in pair] == [0, 0], outs
        assert all(out.strip().endswith("opened") for out in outs)


def read_only(tmp_path: Path) -> Path:
    """A read-only view of a folder holding a Dagster home (a read-only bind mount: root writes through a chmod)."""
    src, view = tmp_path / "src", tmp_path / "ro"
    (src / "dagster").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "dagster.yaml", src / "dagster" / "dagster.yaml")
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(src), str(view)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({mounted.stderr.decode().strip()}): a read-only home needs a mount to test")
    if subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True).returncode != 0:
        subprocess.run(["umount", str(view)])
        pytest.skip("cannot remount read-only here")
    return view


def test_a_read_only_home_is_one_message_naming_it(tmp_path):
    home = read_only(tmp_path)
    try:
        env = {**os.environ, "LATENT_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlflow/mlflow.db"}
        status = subprocess.run([sys.executable, "-m", "scripts.cli", "status"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)
    finally:
        subprocess.run(["umount", str(home)])
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert status.stderr.strip() == (f"the Dagster home {home / 'dagster'} cannot be written (Read-only file system): LATENT_HOME "
                                     "(or DAGSTER_HOME) must name a folder you can write, on a disk with space "
                                     "(LATENT_HOME=/path/to/data make demo)")


def test_the_team_server_refuses_a_dagster_home_that_holds_the_local_instance(tmp_path):
    """make serve beside make ui in one LATENT_HOME: the team server never takes over the local instance's home."""
    from scripts.serve import INSTANCE_YAML, AnotherInstance, refuse_another_instance

    local = tmp_path / "dagster"
    local.mkdir()
    (local / "dagster.yaml").write_text((ROOT / "scripts" / "dagster.yaml").read_text())  # as make writes it
    with pytest.raises(AnotherInstance, match=f"{local} holds another Dagster instance .*Unset DAGSTER_HOME"):
        refuse_another_instance(local)
    assert (local / "dagster.yaml").read_text() == (ROOT / "scripts" / "dagster.yaml").read_text()  # untouched
    (local / "dagster.yaml").unlink()
    (local / "history").mkdir()  # the local instance's SQLite run storage, without its yaml
    with pytest.raises(AnotherInstance, match="SQLite storage: history"):
        refuse_another_instance(local)
    team = tmp_path / "dagster-team"
    team.mkdir()
    (team / "dagster.yaml").write_text(INSTANCE_YAML)
    refuse_another_instance(team)  # its own home: restarted, not refused
    refuse_another_instance(tmp_path / "new")  # a new one
