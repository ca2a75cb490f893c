"""The two skip-gram trainers at equal quality? gensim and the numba kernel (``pipeline.embedding.skipgram_numba``) each train the
user-session-song space of a finished run from the same walk files with the run's settings (all cores), and each is
scored as the metrics stage scores the proposed method: recall at every k of both experiments on the run's queries,
with the user-level 95 % intervals (users resampled), and the behaviour stage's accuracy against the planted truth.

The bar (issue 34): every recall@k of the numba space inside the gensim space's interval, and each behaviour
accuracy within 0.01 of gensim's. Printed, not asserted.

    make demo LATENT_HOME=/tmp/demo && python benchmarks/trainer_quality.py --home /tmp/demo
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from demo_run import ROOT, load_run  # noqa: E402

from pipeline import defaults  # noqa: E402
from pipeline.analysis.behaviour import agreement_with_truth, analyse_users  # noqa: E402
from pipeline.analysis.plots import SpaceView  # noqa: E402
from pipeline.embedding.skipgram import SkipGramParams  # noqa: E402
from pipeline.embedding.trainers import RESUMABLE, train_units  # noqa: E402
from pipeline.evaluation.experiments import run_experiments  # noqa: E402
from pipeline.network.walks import ShardedCorpus  # noqa: E402


def behaviour_scores(run, vectors: np.ndarray) -> dict:
    truth = run.stages["raw_events"]["truth_users"]
    if not truth.exists():
        return {}
    view = SpaceView(run.graph, vectors, pl.read_parquet(run.stages["splits"]["train"]))
    sessions = view.sessions.with_columns(pl.col("session_id").replace_strict(view.session_vertex, return_dtype=pl.Int64).alias("vertex"))
    table, _ = analyse_users(sessions, view.coords, seed=defaults.SEED)
    return agreement_with_truth(table, pl.read_parquet(truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=os.environ.get("LATENT_HOME", str(ROOT / ".data")))
    args = parser.parse_args()
    run = load_run(args.home)
    settings = {k: run.trained[k] for k in ("dimensions", "window", "epochs", "alpha", "min_alpha")}
    params = replace(SkipGramParams(**settings), workers=0, seed=defaults.SEED)
    corpus = ShardedCorpus.load(run.stages["walks_uss"])
    spaces, seconds, behaviour = [], {}, {}
    for trainer in RESUMABLE:
        t = time.perf_counter()
        result = train_units(corpus, params, trainer=trainer)
        seconds[trainer] = time.perf_counter() - t
        print(f"{trainer}: {result.words_trained:,} words in {seconds[trainer]:.1f} s "
              f"({result.words_trained / seconds[trainer] / 1e3:,.0f}k words/s)", flush=True)
        spaces.append(run.space(trainer, result.vectors))
        behaviour[trainer] = behaviour_scores(run, result.vectors)
    table = run_experiments(run.queries, spaces, train_sessions=run.sessions, seed=defaults.SEED).table
    keep = ["experiment", "method", "k", "recall", "recall_user_lo", "recall_user_hi"]
    wide = (table.select(keep).with_columns(pl.col("method").str.replace("^(gensim|numba)", "").alias("variant"),
                                       pl.col("method").str.extract("^(gensim|numba)").alias("trainer")))
    g = wide.filter(pl.col("trainer") == "gensim").drop("trainer", "method")
    n = wide.filter(pl.col("trainer") == "numba").select("experiment", "variant", "k", pl.col("recall").alias("numba"))
    both = g.join(n, on=["experiment", "variant", "k"]).with_columns(
        ((pl.col("numba") >= pl.col("recall_user_lo")) & (pl.col("numba") <= pl.col("recall_user_hi"))).alias("inside"))
    with pl.Config(tbl_rows=200, tbl_width_chars=160, float_precision=4):
        print(f"\nrecall@k on {run.queries.n:,} test sessions ({args.home}): numba against gensim's user-level 95 % interval")
        print(both.sort("experiment", "variant", "k"))
    print(f"\n{both['inside'].sum()} of {both.height} recall@k inside gensim's interval; largest |numba - gensim|: "
          f"{(both['numba'] - both['recall']).abs().max():.4f}")
    for key in behaviour["gensim"]:
        if key != "users_checked":
            print(f"behaviour {key}: gensim {behaviour['gensim'][key]:.4f}, numba {behaviour['numba'][key]:.4f}, "
                  f"difference {behaviour['numba'][key] - behaviour['gensim'][key]:+.4f}")
    print(f"training: gensim {seconds['gensim']:.1f} s, numba {seconds['numba']:.1f} s ({seconds['gensim'] / seconds['numba']:.2f}x)")


if __name__ == "__main__":
    main()
