"""Spark ML's Word2Vec against gensim on the same walks: the paper's proposed space, Experiment 1 and 2 recall.

Reads the latest run of a home (``make demo`` writes one: the default is this checkout's ``.data``), trains Spark ML's
Word2Vec on its ``walks_uss`` corpus with the paper's settings (d=128, window 6, the run's epochs and learning rate)
at 1, 2 and 8 partitions on ``--master`` (default local[2]), and scores each space as the metrics stage scores the
proposed method (the same queries, seed and intervals), beside the run's own gensim space. Partitions are Spark
Word2Vec's unit of parallelism: each trains a copy of the model on its share of the walks and the copies are
averaged after each iteration, so more partitions are faster and, the question here, how much worse.

    python benchmarks/spark_word2vec.py [--home .data] [--partitions 1 2 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from demo_run import load_run  # noqa: E402

from pipeline import defaults  # noqa: E402
from pipeline.contract import StageFiles  # noqa: E402
from pipeline.evaluation.experiments import run_experiments  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=os.environ.get("LATENT_HOME", str(ROOT / ".data")))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 2, 8])
    args = parser.parse_args()
    run = load_run(args.home)
    stages, trained, queries = run.stages, run.trained, run.queries
    spaces = [run.space("gensim", np.load(stages["embedding_uss"]["vectors"]))]
    seconds = {"gensim": trained.get("seconds")}

    from pipeline.embedding.spark_word2vec import train as word2vec
    from pipeline.engines.spark_session import spark_env, spark_session
    os.environ.update(spark_env(args.master))
    spark = spark_session(args.master, "bench word2vec")
    with tempfile.TemporaryDirectory() as scratch:
        for p in args.partitions:
            out = StageFiles("embedding_uss", Path(scratch) / f"p{p}")
            out.folder.mkdir(parents=True)
            t0 = time.perf_counter()
            word2vec(spark, {"walks_uss": stages["walks_uss"]}, out, print, walks="walks_uss", dimensions=trained["dimensions"],
                     window=trained["window"], epochs=trained["epochs"], alpha=trained["alpha"], seed=defaults.SEED, partitions=p)
            seconds[f"spark-{p}"] = round(time.perf_counter() - t0, 1)
            spaces.append(run.space(f"spark-{p}", np.load(out["vectors"])))
    spark.stop()
    table = run_experiments(queries, spaces, train_sessions=run.sessions, k_values=[10, 20, 50], seed=defaults.SEED).table
    shown = table.filter(pl.col("k") == 20).select("experiment", "method", "recall", "recall_user_lo", "recall_user_hi")
    with pl.Config(tbl_rows=50, tbl_width_chars=160):
        print(f"\nrecall@20 on {queries.n:,} test sessions ({args.home}); training seconds: {json.dumps(seconds)}")
        print(shown)


if __name__ == "__main__":
    main()
