"""SKNN with recent sampling against exact SKNN: time and recall of each retrieval on one log's split.

For a `splits` stage's folder (train.parquet, test.parquet) it evaluates SKNN (Exp. 1), SKNN-user and
SKNN-device (Exp. 2) on the metrics stage's queries (up to 200,000 test sessions, seeded), once exact
(``sample`` 0: every session sharing a song is a candidate neighbour) and once for each ``--samples``
value (only the most recent that many; Ludewig & Jannach's "recent" sampling). Prints each retrieval's
seconds and recall@k with its 95 % interval, users resampled (the verdicts' intervals), and whether
the sampled interval overlaps the exact one. Printed, not asserted.

    python -m benchmarks.sknn .data/spark-bench/16M/local/splits/runs/bench --samples 500 1000 5000
"""

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from pipeline import defaults
from pipeline.contract import STAGES, StageFiles
from pipeline.evaluation.baselines import catalogue, play_counts
from pipeline.evaluation.experiments import run_experiments
from pipeline.evaluation.metrics import EVENT_IDS
from pipeline.evaluation.queries import build_queries
from pipeline.evaluation.sknn import SessionKNN
from pipeline.sessions.sessions import session_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("splits", type=Path, help="a splits stage's materialization folder")
    parser.add_argument("--samples", type=int, nargs="+", default=[500, 1000, 5000])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--neighbours", type=int, default=defaults.SKNN_NEIGHBOURS)
    args = parser.parse_args()
    split = StageFiles(STAGES["splits"], args.splits)
    train = pl.read_parquet(split["train"], columns=EVENT_IDS)
    _, songs = catalogue(train)
    queries = build_queries(pl.read_parquet(split["test"], columns=EVENT_IDS), songs)
    sessions = session_table(train).collect().with_columns(pl.col("session_id").cast(pl.String))
    popularity = play_counts(train, songs)
    print(f"{args.splits}: {train.height:,} train events, {sessions.height:,} sessions, {len(songs):,} songs; {queries.n:,} test sessions")
    SessionKNN.from_train(train.head(1000), songs, popularity, args.neighbours, 10).similar_songs(np.array([0]), args.k)  # compile the kernel
    rows = []
    for sample in [0, *args.samples]:
        model = SessionKNN.from_train(train, songs, popularity, args.neighbours, sample)
        model.name = f"SKNN[{sample or 'exact'}]"
        table, notes, _ = run_experiments(queries, [model], train_sessions=sessions, k_values=(args.k,))
        for r in table.iter_rows(named=True):
            variant = r["method"].split("]")[1] or "(Exp. 1)"
            rows.append({"sample": sample, "retrieval": variant, "seconds": notes[f"{r['experiment']}.{r['method']}.seconds"],
                         f"recall@{args.k}": r["recall"], "lo": r["recall_user_lo"], "hi": r["recall_user_hi"]})
        print(pl.DataFrame(rows[-3:]), flush=True)
    out = pl.DataFrame(rows)
    exact = out.filter(pl.col("sample") == 0).select("retrieval", pl.col(f"recall@{args.k}").alias("exact"), pl.col("lo").alias("exact_lo"),
                                                      pl.col("hi").alias("exact_hi"), pl.col("seconds").alias("exact_seconds"))
    out = out.join(exact, on="retrieval").with_columns(
        overlaps=(pl.col("lo") <= pl.col("exact_hi")) & (pl.col("hi") >= pl.col("exact_lo")),
        speedup=pl.col("exact_seconds") / pl.col("seconds"),
    ).drop("exact_lo", "exact_hi", "exact_seconds")
    with pl.Config(tbl_rows=40, float_precision=4, tbl_width_chars=200):
        print(out.sort("retrieval", "sample"))


if __name__ == "__main__":
    main()
