"""Where listening events come from. Today: the seeded synthetic log (``kind: synthetic``)."""


from pathlib import Path

import dagster as dg

from pipeline import defaults
from pipeline.synthetic import SyntheticConfig, generate


class ListeningLogSource(dg.ConfigurableResource):
    """The listening log. ``synthetic`` generates a seeded log of the configured size."""

    kind: str = "synthetic"
    n_users: int = SyntheticConfig.n_users
    n_songs: int = SyntheticConfig.n_songs
    n_artists: int = SyntheticConfig.n_artists
    start: str = SyntheticConfig.start
    end: str = SyntheticConfig.end
    sessions_per_day: float = SyntheticConfig.sessions_per_day

    def synthetic_config(self, seed: int) -> SyntheticConfig:
        return SyntheticConfig(
            n_users=self.n_users,
            n_songs=self.n_songs,
            n_artists=self.n_artists,
            start=self.start,
            end=self.end,
            sessions_per_day=self.sessions_per_day,
            seed=seed,
        )

    def write_events(self, events_path: Path, truth_dir: Path, seed: int = defaults.SEED, log=None) -> dict:
        """Write the log as canonical Parquet; return counts and a description of the source."""
        if self.kind != "synthetic":
            raise ValueError(f"unknown listening-log source kind {self.kind!r}; supported: 'synthetic'")
        summary = generate(self.synthetic_config(seed), events_path, truth_dir, log=log)
        return {**summary, "source": "synthetic", "seed": seed}
