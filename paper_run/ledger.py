"""The paper-scale run's ledger, ``<home>/paper-run.json``: each stage's wall time (summed over
attempts), peak RSS, attempts and interruptions, and each step."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from paper_run.stages import TRAINING, store_of


class Ledger:
    def __init__(self, path: Path, settings: dict) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {"settings": settings, "stages": {}, "steps": []}
        if self.data["settings"] != settings:
            raise SystemExit(
                f"{path} belongs to a run with other settings ({self.data['settings']}); "
                f"use another --home or delete that folder to start over"
            )
        self.lock = threading.Lock()

    def stage(self, name: str) -> dict:
        return self.data["stages"].setdefault(
            name, {"status": "pending", "seconds": 0.0, "peak_rss_mb": 0.0, "attempts": 0, "interrupted": 0, "lost_seconds": 0.0}
        )

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_name(self.path.name + ".partial")
            tmp.write_text(json.dumps(self.data, indent=2))
            os.replace(tmp, self.path)

    def recover(self) -> None:
        """A stage left 'running' was killed with its step: count the interruption and the work lost.

        A training stage keeps what it checkpointed: the time up to its last checkpoint counts as
        the stage's, only the time after it as lost. Any other stage loses the whole attempt.
        """
        for name, st in self.data["stages"].items():
            if st["status"] == "running":
                started, heartbeat = st.get("started", 0.0), st.get("heartbeat", 0.0)
                saved = last_checkpoint_time(self.path.parent, name) if name in TRAINING else None
                kept = saved if saved is not None and saved > started else started
                st["seconds"] += kept - started
                st["interrupted"] += 1
                st["lost_seconds"] += max(0.0, heartbeat - kept)
                st["status"] = "pending"
                print(f"{name}: the last step was interrupted in this stage; it resumes from what is complete on disk")
        for step in self.data["steps"]:
            step.setdefault("ended", "interrupted")


def last_checkpoint_time(home: Path, stage: str) -> float | None:
    """When a training stage last wrote a checkpoint (its state file is rewritten with each), if it has one."""
    from pipeline.embedding.checkpoints import checkpoint_states

    states = checkpoint_states(store_of(home).checkpoints(stage))
    return max(p.stat().st_mtime for p in states) if states else None


