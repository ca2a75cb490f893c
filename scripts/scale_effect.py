"""Why the latent space falls behind on a big log: what its lists hold, and whether another similarity changes it.

Reruns the ``metrics`` stage on the latest materializations of a Dagster instance (any run: the demo, a bigger
synthetic log, ``make paper``'s) with ``space_variants`` cosine and dot (the proposed space's vectors searched by
cosine and by inner product, each its own method), into a folder of its own (the instance's own ``metrics`` is
left alone), and prints at k for each method of both experiments: recall with its users-resampled interval,
recall by popularity tier of the songs to find, and what the lists hold: the share of rare songs (played at most
``RARE_PLAYS`` times in train), the share the user already played in train, mean plays, catalogue coverage.
It tunes nothing and changes no default. Takes as long as the metrics stage and six more retrievals.

    DAGSTER_HOME=.data/paper/dagster .venv/bin/python -m scripts.scale_effect --out /tmp/scale-effect [--k 20]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dagster as dg
import polars as pl

from assets.stage_io import latest
from pipeline.contract import StageFiles
from pipeline.defaults import RARE_PLAYS
from pipeline.evaluation.methods import SIMILARITIES
from pipeline.evaluation.metrics import metrics


def diagnosis(table: pl.DataFrame, strata: pl.DataFrame, k: int) -> pl.DataFrame:
    """One row per (experiment, method) at ``k``: recall, its interval, recall by tier and what the lists hold."""
    tiers = (strata.filter((pl.col("k") == k) & (pl.col("stratum_kind") == "song popularity"))
             .pivot("stratum", index=["experiment", "method"], values="recall"))
    return (table.filter(pl.col("k") == k)
            .select("experiment", "method", "recall", "recall_user_lo", "recall_user_hi", "rare", "heard", "popularity", "coverage")
            .join(tiers, on=["experiment", "method"], how="left", maintain_order="left"))


def run(stages: dict[str, StageFiles], folder: Path, k: int, log=print) -> pl.DataFrame:
    """The metrics stage with every similarity variant into ``folder``; the diagnosis at ``k`` (also scale_effect.csv)."""
    missing = [s for s in ("splits", "graph_uss", "graph_us", "embedding_uss", "embedding_us", "baselines", "behaviour") if s not in stages]
    if missing:
        raise SystemExit(f"no materialization of {', '.join(missing)} in this Dagster instance: run the pipeline first")
    folder.mkdir(parents=True, exist_ok=True)
    out = StageFiles("metrics", folder)
    metrics(stages, out, log, space_variants=SIMILARITIES)
    table = diagnosis(pl.read_parquet(out["metrics"]), pl.read_parquet(out["strata"]), k)
    table.write_csv(folder / "scale_effect.csv")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for this metrics run's files")
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args(argv)
    table = run(latest(dg.DagsterInstance.get()), args.out, args.k)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=220, float_precision=3):
        print(f"\nAt k = {args.k} (rare: played at most {RARE_PLAYS} times in train; heard: already played by the user in train)")
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
