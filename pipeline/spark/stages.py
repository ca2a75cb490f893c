"""The Spark engine's stages, under the names and with the params of ``pipeline.stages.LOCAL``; each takes the
Spark session first."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from pyspark.sql import SparkSession

from pipeline import experiments
from pipeline.contract import NETWORKS, StageFiles
from pipeline.spark import importing, network, tables, word2vec
from pipeline.spark.search import SparkSearch
from pipeline.stages import ENGINE_STAGES, SPARK_ONLY_STAGES, Log, Upstream


def metrics(spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None, **params) -> dict:
    """Both experiments with the latent spaces' nearest songs ranked on the cluster (SKNN, popularity and random
    rank on the driver: their cost is not a product with the catalogue)."""
    search = SparkSearch(spark)
    try:
        return experiments.metrics(upstream, out, log, search=search, **params)
    finally:
        search.close()


SPARK: dict[str, Callable[..., dict]] = {
    "raw_events": importing.raw_events,
    "sessions": tables.sessions,
    "splits": tables.splits,
    **{f"graph_{n}": partial(network.graph, n) for n in NETWORKS},
    **{f"walks_{n}": partial(network.walks, n) for n in NETWORKS},
    "metrics": metrics,
}
assert tuple(SPARK) == ENGINE_STAGES
SPARK_ONLY: dict[str, Callable[..., dict]] = {"word2vec": word2vec.train}  # an embedding trainer gensim's stage can swap in
assert tuple(SPARK_ONLY) == SPARK_ONLY_STAGES
