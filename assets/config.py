"""Run configuration of each stage, with the paper's defaults (from ``pipeline.defaults``)."""


import dagster as dg

from pipeline import defaults


class SessionConfig(dg.Config):
    session_gap_minutes: float = defaults.SESSION_GAP_MINUTES
    split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE


class SplitConfig(dg.Config):
    cutoff: str = defaults.CUTOFF
    train_sessions: int = defaults.TRAIN_SESSIONS
    test_sessions: int = defaults.TEST_SESSIONS
    min_session_songs: int = defaults.MIN_SESSION_SONGS


class WalkConfig(dg.Config):
    walk_length: int = defaults.WALK_LENGTH
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX


class EmbeddingConfig(dg.Config):
    dimensions: int = defaults.DIMENSIONS
    window: int = defaults.WINDOW
    epochs: int = defaults.EPOCHS
    alpha: float = defaults.ALPHA
    min_alpha: float = defaults.MIN_ALPHA


class Embedding2DConfig(EmbeddingConfig):
    """The embedding drawn in the pictures."""

    dimensions: int = defaults.DIMENSIONS_2D


class ALSConfig(dg.Config):
    factors: int = defaults.ALS_FACTORS
    regularization: float = defaults.ALS_REGULARIZATION
    iterations: int = defaults.ALS_ITERATIONS


class EvaluationConfig(dg.Config):
    k_values: list[int] = list(defaults.K_VALUES)
    max_test_sessions: int = defaults.MAX_TEST_SESSIONS
