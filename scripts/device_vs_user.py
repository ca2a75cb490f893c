"""Experiment 2 split by the generator's planted truth: when does the same-device session beat the user vector?

Reads the latest materializations of the Dagster instance (synthetic data only: it needs the planted truth).
Run: ``.venv/bin/python -m scripts.device_vs_user [--k 10]``.
"""

import argparse

import dagster as dg
import numpy as np
import polars as pl

from assets.stage_io import latest
from pipeline.evaluation.baselines import catalogue
from pipeline.evaluation.measures import ranking_metrics
from pipeline.evaluation.methods import Space
from pipeline.evaluation.nearest import EUCLIDEAN
from pipeline.evaluation.queries import build_queries, reference_sessions
from pipeline.network.graph import Graph
from pipeline.sessions.sessions import session_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    stages = latest(dg.DagsterInstance.get())
    train = pl.read_parquet(stages["splits"]["train"])
    _, songs = catalogue(train)
    queries = build_queries(pl.read_parquet(stages["splits"]["test"]), songs)
    space = Space.from_graph("proposed", EUCLIDEAN, np.load(stages["embedding_uss"]["vectors"]), Graph.load(stages["graph_uss"]),
                             songs, with_sessions=True)
    train_sessions = session_table(train).collect().with_columns(pl.col("session_id").cast(pl.String))
    ref = reference_sessions(train_sessions, queries.sessions).to_list()
    users = queries.sessions["user_id"].to_list()
    truth = queries.sessions.join(pl.read_parquet(stages["raw_events"]["truth_users"]), on="user_id", how="left")
    group = np.where(truth["kind"] == "single", "single taste", "dynamic, " + truth["dependence"].to_numpy())
    recall = {
        name: ranking_metrics(space.recommend(users, args.k, sessions), queries.exp2_relevant, (args.k,))["recall"][args.k]
        for name, sessions in (("user", None), ("device", ref))
    }
    print(f"Experiment 2, recall@{args.k}, by planted user group")
    print(f"{'group':<20}{'sessions':>9}{'user vector':>13}{'same-device':>13}")
    for g in ["single taste", "dynamic, device", "dynamic, time", "dynamic, none", "all"]:
        m = np.ones(len(group), bool) if g == "all" else group == g
        print(f"{g:<20}{m.sum():>9}{np.nanmean(recall['user'][m]):>13.3f}{np.nanmean(recall['device'][m]):>13.3f}")


if __name__ == "__main__":
    main()
