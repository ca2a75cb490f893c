"""The metrics stage: every method built from its stage's files and run through both experiments
(``pipeline.evaluation.experiments``), the tables written where the stage contract says.

The latent spaces find their nearest songs with ``search`` (``pipeline.evaluation.nearest.nearest`` on this machine; an
engine can pass its own with the same signature and results, such as ``pipeline.evaluation.spark_search.SparkSearch``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import polars as pl

from pipeline import defaults
from pipeline.contract import EVENT_IDS, Log, StageFiles, Upstream  # noqa: F401 - EVENT_IDS: imported from here too
from pipeline.embedding.record import TRAINING_STATS
from pipeline.evaluation.baselines import catalogue
from pipeline.evaluation.beyond_accuracy import TrainHistory, tag_codes
from pipeline.evaluation.experiments import run_experiments
from pipeline.evaluation.measures import ordering_verdicts
from pipeline.evaluation.methods import Popularity, RandomSongs, Retriever, Space
from pipeline.evaluation.nearest import DOT, EUCLIDEAN, nearest
from pipeline.evaluation.queries import build_queries
from pipeline.evaluation.sknn import SessionKNN
from pipeline.io import read_json, write_json
from pipeline.network.graph import Graph
from pipeline.sessions.sessions import session_table


def proposed_space(upstream: Upstream, songs: list[str], search: Callable = nearest) -> Space:
    """The paper's user-session-song space (128-d), sessions included."""
    return Space.from_graph("proposed", EUCLIDEAN, np.load(upstream["embedding_uss"]["vectors"]), Graph.load(upstream["graph_uss"]),
                            songs, with_sessions=True, search=search)


def mf_space(upstream: Upstream, users: list[str], search: Callable = nearest) -> Space:
    """The ALS baseline's space."""
    baselines = upstream["baselines"]
    return Space.from_factors("MF", DOT, np.load(baselines["user_factors"]), np.load(baselines["item_factors"]), users,
                              search=search)


def methods(upstream: Upstream, train: pl.DataFrame, sknn_neighbours: int, seed: int,
            search: Callable = nearest, sknn_sample: int = defaults.SKNN_SAMPLE,
            space_variants=defaults.SPACE_VARIANTS, users_and_songs: tuple[list[str], list[str]] | None = None) -> list[Retriever]:
    """Every method compared, in the order of the tables: the latent spaces (after the proposed one, its
    ``space_variants``: the same vectors by another similarity), SKNN, popularity, random. ``users_and_songs``:
    ``catalogue(train)``, when the caller has it."""
    users, songs = users_and_songs or catalogue(train)
    popularity = np.load(upstream["baselines"]["popularity"])
    proposed = proposed_space(upstream, songs, search)
    return [
        proposed,
        *(proposed.with_similarity(v) for v in space_variants),
        Space.from_graph("U-S", EUCLIDEAN, np.load(upstream["embedding_us"]["vectors"]), Graph.load(upstream["graph_us"]), songs,
                         search=search),
        mf_space(upstream, users, search),
        SessionKNN.from_train(train, songs, popularity, sknn_neighbours, sknn_sample),
        Popularity(popularity),
        RandomSongs(len(songs), seed),
    ]


def metrics(upstream: Upstream, out: StageFiles, log: Log = None, *,
            k_values=defaults.K_VALUES, max_test_sessions: int = defaults.MAX_TEST_SESSIONS,
            bootstrap_samples: int = defaults.BOOTSTRAP_SAMPLES, sknn_neighbours: int = defaults.SKNN_NEIGHBOURS,
            sknn_sample: int = defaults.SKNN_SAMPLE, space_variants=defaults.SPACE_VARIANTS,
            seed: int = defaults.SEED, search: Callable = nearest) -> dict:
    """Both experiments for every method; writes the metrics, strata, verdicts and notes; returns the notes."""
    train = pl.read_parquet(upstream["splits"]["train"], columns=EVENT_IDS)
    users, songs = catalogue(train)
    queries = build_queries(pl.read_parquet(upstream["splits"]["test"]), songs, max_test_sessions, seed)
    train_sessions = session_table(train).collect().with_columns(pl.col("session_id").cast(pl.String))
    table, notes, strata = run_experiments(
        queries, methods(upstream, train, sknn_neighbours, seed, search, sknn_sample, space_variants, (users, songs)), train_sessions=train_sessions,
        k_values=list(k_values), seed=seed, bootstrap_samples=bootstrap_samples, progress=log,
        popularity=np.load(upstream["baselines"]["popularity"]), tags=tag_codes(upstream["splits"]["train"], songs),
        user_kinds=pl.read_parquet(upstream["behaviour"]["users"]), history=TrainHistory.from_train(train, users, songs),
    )
    table.write_parquet(out["metrics"])
    strata.write_parquet(out["strata"])
    table.write_csv(out["metrics_csv"])
    ordering_verdicts(table).write_parquet(out["verdicts"])
    write_json(out["notes"], notes)
    return notes


def method_params(upstream: Mapping[str, StageFiles], space_variants=(), sknn_neighbours: int = defaults.SKNN_NEIGHBOURS,
                  sknn_sample: int = defaults.SKNN_SAMPLE) -> dict[str, dict]:
    """The params that shaped each method (its embedding's or factorisation's settings, SKNN's), for its MLflow run."""
    embedding = {name: {k: v for k, v in read_json(upstream[stage]["params"]).items() if k not in TRAINING_STATS}
                 for name, stage in (("proposed", "embedding_uss"), ("U-S", "embedding_us"))}
    proposed = {f"embedding_uss.{k}": v for k, v in embedding["proposed"].items()}
    return {
        "proposed": proposed, "proposed-user": proposed, "proposed-device": proposed,
        "U-S": {f"embedding_us.{k}": v for k, v in embedding["U-S"].items()},
        "MF": {f"als.{k}": v for k, v in read_json(upstream["baselines"]["params"]).items()},
        **{name: {"sknn_neighbours": sknn_neighbours, "sknn_sample": sknn_sample} for name in ("SKNN", "SKNN-user", "SKNN-device")},
        **{f"proposed/{v}{part}": {**proposed, "similarity": v} for v in space_variants for part in ("", "-user", "-device")},
    }
