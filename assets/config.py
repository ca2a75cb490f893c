"""Run configuration of each stage, with the paper's defaults (from ``pipeline.defaults``)."""

from typing import Optional

import dagster as dg

from pipeline import defaults
from pipeline.embedding.skipgram import SkipGramParams
from pipeline.evaluation.tuning import ALSGrid
from pipeline.sessions.splits import SplitParams
from resources.params import model_from


class SessionConfig(dg.Config):
    session_gap_minutes: float = defaults.SESSION_GAP_MINUTES
    split_on_device_change: bool = defaults.SPLIT_ON_DEVICE_CHANGE


SplitConfig = model_from(
    "SplitConfig", dg.Config, SplitParams, "The real-life split (pipeline.sessions.splits.SplitParams) and the run's plan "
    "(pipeline.sessions.split_plan.RunPlan): validation_sessions, each user's last train sessions that validate (unset: as many as "
    "the split's test sessions, at most half of train). A plan a later stage could not accept fails here, before any work.",
    __name__, validation_sessions=(Optional[int], defaults.VALIDATION_SESSIONS),
)


class WalkConfig(dg.Config):
    walk_length: int = defaults.WALK_LENGTH
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX


EmbeddingConfig = model_from(
    "EmbeddingConfig", dg.Config, SkipGramParams,
    "The skip-gram (pipeline.embedding.skipgram.SkipGramParams; workers and seed are run-wide settings). Training checkpoints after "
    "each walk shard; max_train_seconds (0: no limit) pauses a long training before a shard that would end past it (at "
    "least one shard a materialization), and materializing again resumes it. trainer: gensim (the default), numba "
    "(pipeline.embedding.skipgram_numba: the same skip-gram with hierarchical softmax, each centre's Huffman path shared by its window, "
    "resumable as gensim is), or spark-word2vec (Spark ML's Word2Vec on the engine's cluster, spark_partitions partitions averaged: not resumable, "
    "min_alpha and max_train_seconds unused; see pipeline.embedding.spark_word2vec). train_shards (gensim, numba; 0: all, the paper's "
    "R) trains on the first N walk files only, with the vocabulary of all: a quick run at full size, to measure or try "
    "every other stage; its vectors saw N/R of the walks and are not the paper's.",
    __name__, exclude=("workers", "seed"), max_train_seconds=(float, 0.0), trainer=(str, "gensim"),
    spark_partitions=(int, 1), train_shards=(int, 0),
)


class Embedding2DConfig(EmbeddingConfig):
    """The embedding drawn in the pictures."""

    dimensions: int = defaults.DIMENSIONS_2D


ALSConfig = model_from(
    "ALSConfig", dg.Config, ALSGrid, "ALS is tuned on the validation split over this grid (pipeline.evaluation.tuning.ALSGrid), then "
    "refit on all of train. A one-point grid fixes the values (the first value of each list is implicit's usual one).", __name__,
)


class SkipGramTuningConfig(dg.Config):
    """Off by default (the paper's settings stay the default): when on, grid-searches the
    user-session-song skip-gram's epochs, learning rate and window on the validation split, and
    ``embedding_uss`` trains with the best point (as ``baselines`` refits the point ``als_tuning``
    chose). A grid stopped midway resumes from the points it scored, and a widened one
    on the same data trains only its new points."""

    enabled: bool = False
    epochs: list[int] = [1, 3, 5]
    alpha: list[float] = [0.025, 0.05]
    window: list[int] = [defaults.WINDOW]
    dimensions: int = defaults.DIMENSIONS
    walk_length: int = defaults.WALK_LENGTH
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX
    tuning_k: int = defaults.TUNING_K
    trainer: str = "gensim"  # or numba (pipeline.embedding.trainers): the grid's trainings


class EvaluationConfig(dg.Config):
    k_values: list[int] = list(defaults.K_VALUES)
    max_test_sessions: int = defaults.MAX_TEST_SESSIONS
    bootstrap_samples: int = defaults.BOOTSTRAP_SAMPLES
    sknn_neighbours: int = defaults.SKNN_NEIGHBOURS
    sknn_sample: int = defaults.SKNN_SAMPLE
    space_variants: list[str] = list(defaults.SPACE_VARIANTS)  # also search the proposed space by "cosine" and/or "dot"


class BehaviourConfig(dg.Config):
    """Per-user measures cost about 0.15 s a user (three k-means and two permutation tests); past
    ``max_users`` users a seeded sample of that many is measured (0: every user)."""

    max_users: int = 5_000
