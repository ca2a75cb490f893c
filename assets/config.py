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
    """The skip-gram. Training checkpoints after each walk shard; ``max_train_seconds`` (0: no limit)
    pauses a long training before a shard that would end past it (at least one shard a materialization),
    and materializing again resumes it."""

    dimensions: int = defaults.DIMENSIONS
    window: int = defaults.WINDOW
    epochs: int = defaults.EPOCHS
    alpha: float = defaults.ALPHA
    min_alpha: float = defaults.MIN_ALPHA
    max_train_seconds: float = 0.0


class Embedding2DConfig(EmbeddingConfig):
    """The embedding drawn in the pictures."""

    dimensions: int = defaults.DIMENSIONS_2D


class ValidationConfig(dg.Config):
    """Each user's last ``validation_sessions`` train sessions validate; tuning never sees test."""

    validation_sessions: int = defaults.VALIDATION_SESSIONS


class ALSConfig(dg.Config):
    """ALS is tuned on the validation split over this grid, then refit on all of train.
    A one-point grid fixes the values (the first value of each list is implicit's usual one)."""

    factors: int = defaults.ALS_FACTORS
    regularization: list[float] = list(defaults.ALS_REGULARIZATION_GRID)
    confidence_scale: list[float] = list(defaults.ALS_CONFIDENCE_SCALE_GRID)
    iterations: list[int] = [defaults.ALS_ITERATIONS]
    tuning_k: int = defaults.TUNING_K


class SkipGramTuningConfig(dg.Config):
    """Off by default (the paper's settings stay the default): when on, grid-searches the
    user-session-song skip-gram's epochs and learning rate on the validation split and reports how far
    the paper's settings are from the best; it does not change the embeddings."""

    enabled: bool = False
    epochs: list[int] = [1, 3, 5]
    alpha: list[float] = [0.025, 0.05]
    dimensions: int = defaults.DIMENSIONS
    walk_length: int = defaults.WALK_LENGTH
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX
    tuning_k: int = defaults.TUNING_K


class EvaluationConfig(dg.Config):
    k_values: list[int] = list(defaults.K_VALUES)
    max_test_sessions: int = defaults.MAX_TEST_SESSIONS
    bootstrap_samples: int = defaults.BOOTSTRAP_SAMPLES
    sknn_neighbours: int = defaults.SKNN_NEIGHBOURS


class BehaviourConfig(dg.Config):
    """Per-user measures cost about 0.15 s a user (three k-means and two permutation tests); past
    ``max_users`` users a seeded sample of that many is measured (0: every user)."""

    max_users: int = 5_000
