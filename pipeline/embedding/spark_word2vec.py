"""Spark ML's ``Word2Vec`` as the embedding stage's other trainer (``trainer: spark-word2vec``), for corpora that
live on a cluster.

It is the paper's model (skip-gram with hierarchical softmax; no subsampling, every vertex kept), trained on the
walk corpus's shards as Spark reads them, but not gensim's training: each of ``partitions`` partitions trains its
own copy of the model on its share of the walks and the copies are averaged after every iteration (quality falls as
partitions grow: see docs/spark.md), the model lives on the driver and is broadcast every
iteration, and Spark refuses vocabulary x dimensions >= 2^31 (16.8M vertices at d=128). The vectors are written in
vertex order, as gensim's are.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.ml.feature import Word2Vec
from pyspark.ml.functions import vector_to_array
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipeline import defaults
from pipeline.contract import Log, StageFiles, Upstream
from pipeline.embedding.embedding import check_trainer, spark_embedding
from pipeline.embedding.record import spark_settings
from pipeline.embedding.skipgram import SkipGramParams
from pipeline.engines import SPARK_WORD2VEC
from pipeline.engines.spark_session import write_parquet
from pipeline.io import save_npy
from pipeline.network.walks import ShardedCorpus

LIMIT = 2**31  # Spark's Word2Vec refuses a vocabulary whose vectors hold this many numbers or more


def train(spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None, *, walks: str,
          dimensions: int = defaults.DIMENSIONS, window: int = defaults.WINDOW, epochs: int = defaults.EPOCHS,
          alpha: float = defaults.ALPHA, seed: int = defaults.SEED, partitions: int = 1) -> dict:
    """Vectors of every vertex of the corpus of stage ``walks`` (out["vectors"], vertex order); returns the stats."""
    corpus = ShardedCorpus.load(upstream[walks])
    n_vertices = len(corpus.vertex_counts)
    if n_vertices * dimensions >= LIMIT:
        raise ValueError(f"Spark's Word2Vec cannot hold {n_vertices:,} vertices x {dimensions} dimensions (its limit is "
                         f"2^31 numbers): train with gensim (trainer: gensim) on a machine with the memory")
    if partitions < 1:
        raise ValueError("spark_partitions must be at least 1")
    t0 = time.perf_counter()
    sentences = spark.read.text([str(p) for p in corpus.shards]).select(F.split("value", " ").alias("walk"))
    model = Word2Vec(vectorSize=dimensions, windowSize=window, minCount=0, numPartitions=partitions, maxIter=epochs,
                     stepSize=alpha, seed=seed, inputCol="walk", outputCol="vector",
                     maxSentenceLength=max(1000, 2 * window + 1)).fit(sentences)
    seconds = time.perf_counter() - t0
    table = Path(out.folder) / ".vectors.parquet"
    rows = write_parquet(model.getVectors().select(F.col("word").cast("long").alias("vertex"),
                                                   vector_to_array("vector", "float32").alias("vector")), table,
                         pa.schema([("vertex", pa.int64()), ("vector", pa.list_(pa.float32()))]))
    vectors = np.zeros((n_vertices, dimensions), dtype=np.float32)
    for batch in pq.ParquetFile(table).iter_batches(batch_size=1 << 16):
        vertex = batch.column("vertex").to_numpy()
        vectors[vertex] = batch.column("vector").flatten().to_numpy().reshape(len(vertex), dimensions)
    table.unlink()
    walked = int((corpus.vertex_counts > 0).sum())
    if rows != walked:
        raise ValueError(f"Spark's Word2Vec returned {rows:,} vectors for {walked:,} walked vertices")
    save_npy(out["vectors"], vectors)
    words = int(sum(corpus.shard_words)) * epochs
    if log:
        log(f"Spark Word2Vec: {n_vertices:,} vertices, d={dimensions}, {partitions} partition(s), {epochs} iteration(s), "
            f"{words / max(seconds, 1e-9) / 1e6:.2f}M words/s, {seconds:.0f} s")
    return {"seconds": round(seconds, 2), "words_per_second": round(words / max(seconds, 1e-9), 2), "vertices": n_vertices}


def embedding(spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None, *, walks: str, trainer: str,
              spark_partitions: int = 1, checkpoints: str = "", train_shards: int = 0, max_train_seconds: float = 0.0,
              **skipgram) -> dict:
    """An embedding stage on Spark, in the signature of ``pipeline.embedding.embedding.embedding``: Spark ML's Word2Vec
    (``trainer: spark-word2vec``) with the skip-gram settings ``skipgram``, recorded as a resumable training is
    (vectors and params.json). Not resumable: ``checkpoints`` and ``max_train_seconds`` do not apply."""
    if trainer != SPARK_WORD2VEC:
        raise ValueError(f"the Spark engine trains with {SPARK_WORD2VEC}, not {trainer!r}")
    check_trainer(trainer, train_shards)
    params = SkipGramParams(**skipgram)
    outcome = train(spark, upstream, out, log, walks=walks, **spark_settings(params), partitions=spark_partitions)
    return spark_embedding(upstream, out, outcome, params, walks=walks, partitions=spark_partitions)
