"""Where the MLflow store and the two UIs are on this machine (unless a resource's config says otherwise), and
which commit of the code runs."""

from __future__ import annotations

import functools
import os
import subprocess

from pipeline.io import PROJECT_ROOT, default_home


def ui_urls(environ=os.environ) -> dict[str, str]:
    """Where ``make ui`` / ``make serve`` serve the two UIs on this machine: ``DAGSTER_PORT`` (3000) and ``MLFLOW_PORT``
    (5000), as the launchers read them, so that links between the two follow the ports."""
    return {"dagster_url": f"http://127.0.0.1:{environ.get('DAGSTER_PORT') or 3000}",
            "ui_url": f"http://127.0.0.1:{environ.get('MLFLOW_PORT') or 5000}"}


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` or a SQLite file under ``<project>/.data/mlflow``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{default_home() / 'mlflow' / 'mlflow.db'}"


def default_artifact_location() -> str:
    return str(default_home() / "mlflow" / "artifacts")


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit, for MLflow's source tags (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
