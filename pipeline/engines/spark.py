"""The Spark engine's stages, under the names and with the params of ``pipeline.engines.local.LOCAL``; each takes the
Spark session first. Each lives beside the local stage it implements (``pipeline.ingest.spark``,
``pipeline.sessions.spark``, ``pipeline.network.spark``, ``pipeline.evaluation.spark_search``,
``pipeline.embedding.spark_word2vec``) and writes the files the stage contract declares, equal to the local engine's.

Executors read and write the store directly: it must be a filesystem every node sees at the same path (on one
machine, any folder; on a cluster, a shared mount). Skip-gram training (but for Spark ML's Word2Vec) and ALS stay on
one machine (see docs/spark.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from pyspark.sql import SparkSession

from pipeline.contract import EMBEDDING_NETWORK, NETWORKS, Log, StageFiles, Upstream, graph_stage, walks_stage
from pipeline.embedding import spark_word2vec
from pipeline.engines import ENGINE_STAGES, TRAINING_STAGES
from pipeline.evaluation import metrics as local_metrics
from pipeline.evaluation.spark_search import SparkSearch
from pipeline.ingest import spark as ingest
from pipeline.network import spark as network
from pipeline.sessions import spark as sessions


def metrics(spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None, **params) -> dict:
    """Both experiments with the latent spaces' nearest songs ranked on the cluster (SKNN, popularity and random
    rank on the driver: their cost is not a product with the catalogue)."""
    search = SparkSearch(spark)
    try:
        return local_metrics.metrics(upstream, out, log, search=search, **params)
    finally:
        search.close()


SPARK: dict[str, Callable[..., dict]] = {
    "raw_events": ingest.raw_events,
    "sessions": sessions.sessions,
    "splits": sessions.splits,
    **{graph_stage(n): partial(network.graph, n) for n in NETWORKS},
    **{walks_stage(n): partial(network.walks, n) for n in NETWORKS},
    "metrics": metrics,
    **{name: partial(spark_word2vec.embedding, walks=walks_stage(n)) for name, n in EMBEDDING_NETWORK.items()},  # Spark ML's Word2Vec
}
assert tuple(SPARK) == ENGINE_STAGES + TRAINING_STAGES
