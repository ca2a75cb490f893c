"""Both networks and their random walks on Spark: the vertex ids, CSR and corpus of ``pipeline.network.graph`` and
``pipeline.network.walks``, byte for byte.

Graphs: vertex blocks (users, sessions, songs, each in sorted key order) are numbered with ``zipWithIndex``; the
distinct edges, both ways, are sorted on the cluster and streamed into one CSR (the walks need it whole).

Walks: the adjacency is held by every executor (read once per Python worker from the store, which every node sees);
a task walks one batch of start vertices of one pass with the same numba kernel and per-walk counter-based streams
as the local engine, and writes its lines to a part file; the driver concatenates the parts of each pass in order.
So the corpus equals the local one for a seed, whatever the number of executors. When the adjacency no longer fits
an executor, a walk becomes a join per step (the plan in docs/spark.md).
"""

from __future__ import annotations

import shutil
import time
from functools import lru_cache, reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipeline import defaults
from pipeline.contract import NETWORKS, SESSION, SONG, USER, Log, StageFiles, Upstream, graph_stage
from pipeline.engines.spark_session import write_parquet
from pipeline.io import atomic_path, save_npy, write_json
from pipeline.network.walks import BATCH, pass_order, visits, walk_batch, walk_text

BROADCAST_VERTICES = 5_000_000  # vertex tables below this are shipped to every executor for the join; above, shuffled


def graph(network: str, spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None) -> dict:
    train = spark.read.parquet(str(upstream["splits"]["train"])).select(
        F.col("user_id").cast("string").alias(USER), F.col("session_id").cast("string").alias(SESSION),
        F.col("song_id").cast("string").alias(SONG))
    kinds = NETWORKS[network].kinds
    blocks, offset = [], 0
    for kind in kinds:
        keys = train.select(F.col(kind).alias("key")).distinct().orderBy("key")
        n = keys.count()
        numbered = keys.rdd.zipWithIndex().map(lambda pair, o=offset, k=kind: (o + pair[1], k, pair[0][0]))
        blocks.append(spark.createDataFrame(numbered, "vertex long, kind string, key string"))
        offset += n
    n_vertices = offset
    vertices = reduce(lambda a, b: a.unionByName(b), blocks)
    write_parquet(vertices.orderBy("vertex"), out["vertices"], pa.schema([("vertex", pa.int64()), ("kind", pa.string()),
                                                                          ("key", pa.string())]))
    coded = train
    for kind, block in zip(kinds, blocks):
        ids = block.select(F.col("key").alias(kind), F.col("vertex").alias(f"_{kind}"))
        coded = coded.join(F.broadcast(ids) if n_vertices < BROADCAST_VERTICES else ids, kind)
    pairs = NETWORKS[network].edges
    one_way = None
    for a, b in pairs:
        part = coded.select(F.col(f"_{a}").alias("src"), F.col(f"_{b}").alias("dst"))
        one_way = part if one_way is None else one_way.unionByName(part)
    edges = one_way.unionByName(one_way.select(F.col("dst").alias("src"), F.col("src").alias("dst"))).distinct() \
                   .orderBy("src", "dst")
    indices_path = Path(out.folder) / ".edges.parquet"
    n_directed = write_parquet(edges.select(F.col("dst").cast("int").alias("dst"), "src"), indices_path,
                               pa.schema([("dst", pa.int32()), ("src", pa.int64())]))
    indptr = np.zeros(n_vertices + 1, dtype=np.int64)
    indices = np.empty(n_directed, dtype=np.int32)
    at = 0
    for batch in pq.ParquetFile(indices_path).iter_batches(batch_size=1 << 22):
        dst, src = batch.column("dst").to_numpy(), batch.column("src").to_numpy()
        indices[at:at + len(dst)] = dst
        indptr[1:] += np.bincount(src, minlength=n_vertices)
        at += len(dst)
    indices_path.unlink()
    np.cumsum(indptr, out=indptr)
    with atomic_path(out["adjacency"]) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, indptr=indptr, indices=indices)
    if log:
        log(f"graph_{network} on Spark: {n_vertices:,} vertices, {n_directed // 2:,} edges")
    return {"vertices": n_vertices, "edges": n_directed // 2}


@lru_cache(maxsize=2)
def _adjacency(path: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as z:
        return z["indptr"].astype(np.int64), z["indices"].astype(np.int32, copy=False)


@lru_cache(maxsize=2)
def _order(n_vertices: int, seed: int, pass_index: int) -> np.ndarray:
    return pass_order(n_vertices, seed, pass_index)


def _walk_tasks(tasks, adjacency: str, parts: str, walk_length: int, seed: int):
    """One Spark partition of (pass, first start) tasks: walk, write each task's lines, count the vertices."""
    import numba
    from pyspark import TaskContext
    context = TaskContext.get()
    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, context.cpus() if context else 1)))
    indptr, indices = _adjacency(adjacency)
    n = len(indptr) - 1
    counts = np.zeros(n, dtype=np.int64)
    tokens: dict[int, int] = {}
    for r, first in tasks:
        walks = walk_batch(indptr, indices, _order(n, seed, r)[first:first + BATCH], walk_length, seed, r)
        with atomic_path(Path(parts) / f"{r:05d}-{first:012d}") as tmp:
            tmp.write_bytes(walk_text(walks))
        seen, steps = visits(walks, n)
        counts += seen
        tokens[r] = tokens.get(r, 0) + steps
    yield counts, tokens


def _merge(a, b):
    tokens = dict(a[1])
    for r, t in b[1].items():
        tokens[r] = tokens.get(r, 0) + t
    return a[0] + b[0], tokens


def walks(network: str, spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None, *,
          walk_length: int = defaults.WALK_LENGTH, walks_per_vertex: int = defaults.WALKS_PER_VERTEX,
          seed: int = defaults.SEED) -> dict:
    if walk_length < 1 or walks_per_vertex < 1:
        raise ValueError("walk_length and walks_per_vertex must be at least 1")
    t0 = time.perf_counter()
    adjacency = str(upstream[graph_stage(network)]["adjacency"])
    with np.load(adjacency) as z:
        n_vertices = len(z["indptr"]) - 1
    parts = Path(out.folder) / ".walk-parts"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    tasks = [(r, first) for r in range(walks_per_vertex) for first in range(0, n_vertices, BATCH)]
    slices = max(1, min(len(tasks), 4 * spark.sparkContext.defaultParallelism))
    counts, tokens = spark.sparkContext.parallelize(tasks, slices).mapPartitions(
        lambda it: _walk_tasks(it, adjacency, str(parts), walk_length, seed)).treeReduce(_merge)
    shards, words = [], []
    for r in range(walks_per_vertex):
        path = out.series("shard", r)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            for first in range(0, n_vertices, BATCH):
                with open(parts / f"{r:05d}-{first:012d}", "rb") as part:
                    shutil.copyfileobj(part, fh, 1 << 24)
        shards.append(path.name)
        words.append(int(tokens.get(r, 0)))
    shutil.rmtree(parts)
    save_npy(out["vertex_counts"], counts)
    write_json(out["index"], {"shards": shards, "shard_words": words})
    seconds = time.perf_counter() - t0
    if log:
        log(f"walks_{network} on Spark: {n_vertices * walks_per_vertex:,} walks, {sum(words):,} steps in {seconds:.1f} s "
            f"({len(tasks)} tasks in {slices} partitions)")
    return {"walks": n_vertices * walks_per_vertex, "tokens": sum(words), "seconds": round(seconds, 2)}
