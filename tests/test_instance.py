"""Two commands started together in a fresh Dagster home both open its instance (assets.instance)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
