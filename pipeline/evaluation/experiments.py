"""Both experiments of the paper (Section 4.3) for every retrieval method, scored.

Each method (``pipeline.evaluation.methods.Retriever``) answers Experiment 1 (``similar_songs`` of each test
session's first song) and Experiment 2 (``recommend`` for the session's user). A session-aware
method answers Experiment 2 twice: ``<name>-user`` for the user, and ``<name>-device`` for the
user's *latest* training session on the same device as the test session -- the session closest in
time to the test period in the same listening context; a test session whose device has no
training session falls back to the user (counted in the notes).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import polars as pl

from pipeline import defaults
from pipeline.evaluation.beyond_accuracy import TrainHistory, beyond_accuracy
from pipeline.evaluation.measures import hits_of, ranking_metrics, summarize
from pipeline.evaluation.methods import Retriever
from pipeline.evaluation.queries import TestQueries, reference_sessions
from pipeline.evaluation.strata import popularity_tiers, query_strata, stratified

STRATA_SCHEMA = {"experiment": pl.String, "method": pl.String, "stratum_kind": pl.String, "stratum": pl.String,
                 "k": pl.Int64, "recall": pl.Float64, "queries": pl.Int64}


class Evaluation(NamedTuple):
    table: pl.DataFrame  # every measure of every method at every k
    notes: dict
    strata: pl.DataFrame  # recall@k by stratum (pipeline.evaluation.strata)


def run_experiments(
    queries: TestQueries,
    methods: list[Retriever],
    train_sessions: pl.DataFrame | None = None,
    k_values=defaults.K_VALUES,
    seed: int = defaults.SEED,
    bootstrap_samples: int = defaults.BOOTSTRAP_SAMPLES,
    progress=None,
    popularity: np.ndarray | None = None,
    tags: dict[str, np.ndarray] | None = None,
    user_kinds: pl.DataFrame | None = None,
    history: TrainHistory | None = None,
) -> Evaluation:
    """Both experiments for every method, in the order given.

    ``train_sessions`` (session_id, user_id, device, start) give the reference sessions of the
    session-aware methods. Returns the metrics (every measure at every k, bootstrap intervals on
    recall and precision) and notes, which include each retrieval's wall time as
    ``<experiment>.<method>.seconds`` (the ranking only, not the scoring); ``progress``, when
    given, is called with a line per retrieval. With ``popularity`` (each song's train play count), the table also
    has the beyond-accuracy measures of ``pipeline.evaluation.beyond_accuracy`` at each k (diversity in each of ``tags``), and
    the strata (``pipeline.evaluation.strata``) include the songs' popularity tiers; with ``user_kinds`` (the behaviour asset's
    table), the users' kinds; with ``history`` (and ``popularity``), the share of each list its user already played.
    """
    k_max = max(k_values)
    n_songs = queries.exp1_relevant.shape[1]
    query_song = queries.sessions["query_song"].to_numpy()
    users = queries.sessions["user_id"].to_list()
    relevant = {"exp1": queries.exp1_relevant, "exp2": queries.exp2_relevant}
    per_query: dict[str, dict[str, dict]] = {"exp1": {}, "exp2": {}}
    beyond: dict[tuple[str, str], dict[int, dict]] = {}
    strata_of = query_strata(queries.exp2_relevant, users, train_sessions, user_kinds)
    tiers = popularity_tiers(popularity) if popularity is not None else None
    strata_rows: list[dict] = []
    notes: dict = {"test_sessions": queries.n_sessions_total, "sampled_sessions": queries.n}
    ref = reference_sessions(train_sessions, queries.sessions).to_list() if train_sessions is not None else None
    query_users = history.rows(users) if history is not None else None
    if ref is not None:
        notes["device_reference_fallbacks"] = sum(r is None for r in ref)

    retrievals = sum(1 + (1 + (ref is not None) if m.session_aware else 1) for m in methods)
    began = time.perf_counter()

    def score(experiment: str, name: str, rank, *args) -> None:
        start = time.perf_counter()
        top = rank(*args)
        seconds = time.perf_counter() - start
        notes[f"{experiment}.{name}.seconds"] = round(seconds, 2)
        if progress is not None:
            done = sum(k.endswith(".seconds") for k in notes)
            eta = (time.perf_counter() - began) / done * (retrievals - done)
            progress(f"{experiment} {name}: top {k_max} of {n_songs:,} songs for {queries.n:,} queries in {seconds:.1f} s, ETA {eta:.0f}s")
        hits = hits_of(top, relevant[experiment])
        per_query[experiment][name] = ranking_metrics(top, relevant[experiment], k_values, hits=hits)
        if popularity is not None:
            heard = history.heard(top, query_users) if history is not None else None
            beyond[(experiment, name)] = beyond_accuracy(top, k_values, popularity, tags, heard)
        strata_rows.extend(stratified(experiment, name, top, relevant[experiment], per_query[experiment][name]["recall"],
                                      strata_of, tiers, k_values, hits=hits))

    for method in methods:
        score("exp1", method.name, method.similar_songs, query_song, k_max)
        if method.session_aware:
            score("exp2", f"{method.name}-user", method.recommend, users, k_max)
            if ref is not None:
                score("exp2", f"{method.name}-device", method.recommend, users, k_max, ref)
        else:
            score("exp2", method.name, method.recommend, users, k_max)
    notes["exp1_queries_without_relevant_songs"] = int((queries.exp1_relevant.getnnz(axis=1) == 0).sum())
    notes["bootstrap_samples"] = bootstrap_samples
    user_of = np.asarray(users, dtype=object)
    rows = [r for exp, by_method in per_query.items() for r in summarize(by_method, exp, bootstrap_samples, seed, user_of)]
    for r in rows:
        r.update(beyond.get((r["experiment"], r["method"]), {}).get(r["k"], {}))
    return Evaluation(pl.DataFrame(rows), notes, pl.DataFrame(strata_rows, schema=STRATA_SCHEMA))
