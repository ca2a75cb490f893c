"""The synthetic log's settings and palette (``pipeline.ingest.synthetic`` generates the log from them)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import defaults

LANGUAGES = ("Mandarin", "English", "Japanese", "Korean", "Taiwanese", "Cantonese")
LANGUAGE_SHARES = (0.58, 0.18, 0.1, 0.07, 0.04, 0.03)
GENRES = ("Pop", "Rock", "Hip-hop", "Electronic", "R&B", "Jazz", "Classical", "Folk")
DEVICES = ("mobile", "desktop", "tablet", "web", "tv")
DEVICE_SHARES = (0.5, 0.25, 0.1, 0.1, 0.05)



@dataclass(frozen=True)
class SyntheticConfig:
    """Size and shape of the synthetic log. The defaults make the demo run in a few minutes."""

    n_users: int = 160
    n_songs: int = 4_000
    n_artists: int = 400
    start: str = "2016-01-01"
    end: str = "2016-07-01"  # exclusive: Jan 1 - Jun 30 as in the paper
    sessions_per_day: float = 0.9  # median activity; each user's rate is log-normal around it
    short_session_share: float = 0.08  # sessions of 1-4 songs (dropped by the split)
    mean_session_songs: float = 14.0
    max_session_songs: int = 40
    on_taste_share: float = 0.85  # share of a session's songs drawn from its taste community
    single_share: float = 0.4  # users with a single preference; the rest are dynamic
    # Chance that a dynamic user with neither device nor time dependence keeps the previous session's
    # taste: listening comes in streaks. 0 draws every session's taste independently.
    taste_persistence: float = 0.8
    zipf_exponent: float = 0.9
    users_per_block: int = 2_000
    seed: int = defaults.SEED

    @classmethod
    def paper_scale(cls, **overrides) -> "SyntheticConfig":
        """A log whose train set has the size of the paper's Table 1 (``defaults.TABLE1_TRAIN``).

        Measured at 1/36 of this size: 91.7 % of users keep 80 train sessions, with 12.8 songs a
        session and 99.98 % of the songs in train; so 36,300 users give about 33,290 train users and
        34.0M train events (about 73M events generated, as the split keeps 100 of a user's ~165 sessions).
        """
        return cls(**{"n_users": 36_300, "n_songs": 442_000, "n_artists": 44_000, "mean_session_songs": 11.8, **overrides})

    def __post_init__(self) -> None:
        if self.n_users < 1 or self.n_songs < 1 or self.n_artists < 1:
            raise ValueError("n_users, n_songs and n_artists must be positive")
        if self.n_artists > self.n_songs:
            raise ValueError(f"n_artists ({self.n_artists}) cannot exceed n_songs ({self.n_songs})")
        if not self.start < self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
