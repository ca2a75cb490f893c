"""Where each stage's files live under the data folder (one folder a stage)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NETWORKS = ("uss", "us")  # user-session-song (the paper's), user-song (baseline)


@dataclass(frozen=True)
class Layout:
    root: Path

    def stage(self, name: str) -> Path:
        path = Path(self.root) / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # raw events and the generator's planted truth
    @property
    def events(self) -> Path:
        return self.stage("raw_events") / "events.parquet"

    @property
    def truth(self) -> Path:
        return self.stage("raw_events") / "truth"

    @property
    def sessionized(self) -> Path:
        return self.stage("sessions") / "events.parquet"

    @property
    def sessions(self) -> Path:
        return self.stage("sessions") / "sessions.parquet"

    def split(self, name: str) -> Path:
        """train.parquet, test.parquet, table1.parquet, counts.json"""
        return self.stage("splits") / name

    def graph(self, network: str) -> Path:
        return self.stage(f"graph_{network}")

    def walks(self, network: str) -> Path:
        return self.stage(f"walks_{network}")

    def embedding(self, asset_name: str) -> Path:
        return self.stage(asset_name)

    @property
    def baselines(self) -> Path:
        return self.stage("baselines")

    @property
    def metrics(self) -> Path:
        return self.stage("metrics")

    @property
    def plots(self) -> Path:
        return self.stage("plots")
