"""Experiment 2 split by the generator's planted truth: when does the same-device session beat the user vector?

Reads the latest materializations of the Dagster instance (synthetic data only: it needs the planted truth).
Run: ``.venv/bin/python -m scripts.device_vs_user [--k 10]``.
"""

import argparse

import dagster as dg
import numpy as np
import polars as pl

from assets.stage_io import latest
from pipeline.baselines import catalogue
from pipeline.evaluate import EUCLIDEAN, build_queries, nearest, ranking_metrics, reference_sessions
from pipeline.graph import SESSION, SONG, USER, Graph
from pipeline.sessions import session_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    stages = latest(dg.DagsterInstance.get())
    train = pl.read_parquet(stages["splits"]["train"])
    _, songs = catalogue(train)
    queries = build_queries(pl.read_parquet(stages["splits"]["test"]), songs)
    graph = Graph.load(stages["graph_uss"])
    vectors = np.load(stages["embedding_uss"]["vectors"])
    index = {kind: graph.index_of(kind) for kind in (USER, SESSION, SONG)}
    song_vectors = vectors[[index[SONG][s] for s in songs]]
    train_sessions = session_table(train).collect().with_columns(pl.col("session_id").cast(pl.String))
    ref = reference_sessions(train_sessions, queries.sessions).to_list()
    users = queries.sessions["user_id"].to_list()
    user_q = vectors[[index[USER][u] for u in users]]
    device_q = vectors[[index[SESSION][r] if r is not None else index[USER][u] for r, u in zip(ref, users)]]
    truth = queries.sessions.join(pl.read_parquet(stages["raw_events"]["truth_users"]), on="user_id", how="left")
    group = np.where(truth["kind"] == "single", "single taste", "dynamic, " + truth["dependence"].to_numpy())
    recall = {
        name: ranking_metrics(nearest(q, song_vectors, args.k, EUCLIDEAN), queries.exp2_relevant, (args.k,))["recall"][args.k]
        for name, q in (("user", user_q), ("device", device_q))
    }
    print(f"Experiment 2, recall@{args.k}, by planted user group")
    print(f"{'group':<20}{'sessions':>9}{'user vector':>13}{'same-device':>13}")
    for g in ["single taste", "dynamic, device", "dynamic, time", "dynamic, none", "all"]:
        m = np.ones(len(group), bool) if g == "all" else group == g
        print(f"{g:<20}{m.sum():>9}{np.nanmean(recall['user'][m]):>13.3f}{np.nanmean(recall['device'][m]):>13.3f}")


if __name__ == "__main__":
    main()
