"""Both networks and their random walks on Spark: the vertex ids, CSR and corpus of ``pipeline.network.graph`` and
``pipeline.network.walks``, equal array for array and byte for byte, built and written on the executors.

Graphs: the distinct keys of each kind are sorted on the cluster (users, sessions, songs, each block in key order) and
written as parts in that order; a vertex's number is the rows of the parts before its own plus its row there. The
distinct edges, both ways, are range-partitioned by source and sorted; each task writes the CSR rows of its sources
as a block (``pipeline.network.graph.adjacency_block``). The vertex table and the adjacency are folders of parts.

Walks: the adjacency is held by every executor (read once per Python worker from the store, which every node sees);
a task walks one batch of start vertices of one pass with the same numba kernel and per-walk counter-based streams
as the local engine, and writes its lines as a part of its pass's folder (parts in start order). So each pass's
walks equal the local pass file's for a seed, whatever the number of executors. When the adjacency no longer fits
an executor, a walk becomes a join per step (the plan in docs/spark.md).
"""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack
from functools import lru_cache, reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline import defaults
from pipeline.contract import NETWORKS, SESSION, SONG, STAGES, USER, Log, StageFiles, Upstream, graph_stage
from pipeline.engines.spark_session import arrow_schema, write_dataset
from pipeline.io import atomic_path, parquet_parts, save_npy, staged_folder, write_json
from pipeline.network.graph import adjacency_block, adjacency_vertices, load_adjacency
from pipeline.network.walks import BATCH, pass_order, visits, walk_batch, walk_text, write_stats

VERTEX_SCHEMA = arrow_schema(STAGES["graph_us"].files["vertices"].schema)  # (both graphs' vertex tables alike)
BROADCAST_VERTICES = 5_000_000  # vertex tables below this are shipped to every executor for the join; above, shuffled


def graph(network: str, spark: SparkSession, upstream: Upstream, out: StageFiles, log: Log = None) -> dict:
    train = spark.read.parquet(str(upstream["splits"]["train"])).select(
        F.col("user_id").cast("string").alias(USER), F.col("session_id").cast("string").alias(SESSION),
        F.col("song_id").cast("string").alias(SONG))
    kinds = NETWORKS[network].kinds
    n_vertices = _write_vertices(spark, train, kinds, Path(out.folder) / ".vertex-keys", out["vertices"])
    vertices = spark.read.parquet(str(out["vertices"]))
    coded = train
    for kind in kinds:
        ids = vertices.filter(F.col("kind") == kind).select(F.col("key").alias(kind), F.col("vertex").alias(f"_{kind}"))
        coded = coded.join(F.broadcast(ids) if n_vertices < BROADCAST_VERTICES else ids, kind)
    one_way = reduce(lambda a, b: a.unionByName(b), [coded.select(F.col(f"_{a}").alias("src"), F.col(f"_{b}").alias("dst"))
                                                    for a, b in NETWORKS[network].edges])
    edges = one_way.unionByName(one_way.select(F.col("dst").alias("src"), F.col("src").alias("dst"))).distinct()
    blocks = int(spark.conf.get("spark.sql.shuffle.partitions"))
    n_directed = _write_adjacency(edges.repartitionByRange(blocks, "src").sortWithinPartitions("src", "dst"),
                                  out["adjacency"], n_vertices)
    if log:
        log(f"graph_{network} on Spark: {n_vertices:,} vertices, {n_directed // 2:,} edges")
    return {"vertices": n_vertices, "edges": n_directed // 2}


def _write_vertices(spark: SparkSession, train: DataFrame, kinds: tuple[str, ...], keys_at: Path, target: Path) -> int:
    """The vertex table (vertex, kind, key) as parts, and its size: the distinct keys of each kind sorted on the
    cluster (kinds in the network's order) and written as parts in that order; then a task a part numbers its keys
    from the rows of the parts before it (their footers' counts) and writes them as the same part of ``target``."""
    keys = reduce(lambda a, b: a.unionByName(b), [train.select(F.lit(i).alias("block"), F.col(kind).alias("key")).distinct()
                                                 for i, kind in enumerate(kinds)])
    write_dataset(keys.orderBy("block", "key"), keys_at, pa.schema([("block", pa.int32()), ("key", pa.string())]))
    parts = parquet_parts(keys_at)
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in parts]
    firsts = [int(o) for o in np.cumsum([0, *sizes[:-1]])]

    def number(task, folder: str):
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        part, first = task
        table = pq.read_table(part)
        kind = pa.array(np.array(kinds, dtype=object)[table["block"].to_numpy()], pa.string())
        numbered = pa.table({"vertex": np.arange(first, first + table.num_rows, dtype=np.int64), "kind": kind,
                             "key": table["key"]}).cast(VERTEX_SCHEMA)
        with atomic_path(f"{folder}/{Path(part).name}") as tmp:
            pq.write_table(numbered, tmp)
        return table.num_rows

    with staged_folder(target) as staging:
        written = spark.sparkContext.parallelize(list(zip(map(str, parts), firsts)), len(parts)) \
            .map(lambda task: number(task, str(staging))).sum()
    shutil.rmtree(keys_at)
    if written != sum(sizes):
        raise RuntimeError(f"{target}: {written:,} vertices numbered of the {sum(sizes):,} keys")
    return int(sum(sizes))


def _write_adjacency(edges: DataFrame, target: Path, n_vertices: int) -> int:
    """The CSR adjacency as a folder of blocks (``pipeline.network.graph.adjacency_block``), each written by the task
    that holds a range of sources (``edges`` range-partitioned by src, sorted by src and dst within); returns the
    directed edges."""
    def write_block(batches, folder: str):
        import numpy as np
        import pyarrow as pa
        from pyspark import TaskContext

        table = pa.Table.from_batches(list(batches), schema=pa.schema([("src", pa.int64()), ("dst", pa.int64())]))
        if table.num_rows:
            path = f"{folder}/part-{TaskContext.get().partitionId():05d}.npz"
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **adjacency_block(table["src"].to_numpy(), table["dst"].to_numpy(), n_vertices))
        yield pa.RecordBatch.from_pydict({"edges": [table.num_rows]}, schema=pa.schema([("edges", pa.int64())]))

    with staged_folder(target) as staging:
        n_directed = edges.select(F.col("src").cast("long"), F.col("dst").cast("long")) \
            .mapInArrow(lambda batches: write_block(batches, str(staging)), "edges long").agg(F.sum("edges")).first()[0] or 0
        if not any(staging.glob("part-*.npz")):  # a graph without edges: its vertices, each of degree 0
            np.savez(staging / "part-00000.npz", **adjacency_block(np.zeros(0, np.int64), np.zeros(0, np.int64), n_vertices))
    return int(n_directed)


@lru_cache(maxsize=2)
def _adjacency(path: str) -> tuple[np.ndarray, np.ndarray]:
    indptr, indices = load_adjacency(path)
    return indptr.astype(np.int64, copy=False), indices.astype(np.int32, copy=False)


@lru_cache(maxsize=2)
def _order(n_vertices: int, seed: int, pass_index: int) -> np.ndarray:
    return pass_order(n_vertices, seed, pass_index)


def _walk_tasks(tasks, adjacency: str, folders: list[str], walk_length: int, seed: int, batch: int):
    """One Spark partition of (pass, first start) tasks: walk, write each task's lines as a part of its pass, count
    the vertices."""
    import numba
    from pyspark import TaskContext
    context = TaskContext.get()
    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, context.cpus() if context else 1)))
    indptr, indices = _adjacency(adjacency)
    n = len(indptr) - 1
    counts = np.zeros(n, dtype=np.int64)
    tokens: dict[int, int] = {}
    for r, first in tasks:
        walks = walk_batch(indptr, indices, _order(n, seed, r)[first:first + batch], walk_length, seed, r)
        with atomic_path(Path(folders[r]) / f"part-{first:012d}.txt") as tmp:
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
    n_vertices = adjacency_vertices(adjacency)
    batch = BATCH  # start vertices a task (a walk's stream depends on its pass and start alone, not on the batch)
    tasks = [(r, first) for r in range(walks_per_vertex) for first in range(0, n_vertices, batch)]
    slices = max(1, min(len(tasks), 4 * spark.sparkContext.defaultParallelism))
    with ExitStack() as passes:  # each pass a folder of parts, one a task, in place once every task has written
        folders = [str(passes.enter_context(staged_folder(out.series("shard", r)))) for r in range(walks_per_vertex)]
        counts, tokens = spark.sparkContext.parallelize(tasks, slices).mapPartitions(
            lambda it: _walk_tasks(it, adjacency, folders, walk_length, seed, batch)).treeReduce(_merge)
    shards = [out.series("shard", r).name for r in range(walks_per_vertex)]
    words = [int(tokens.get(r, 0)) for r in range(walks_per_vertex)]
    save_npy(out["vertex_counts"], counts)
    write_json(out["index"], {"shards": shards, "shard_words": words})
    seconds = time.perf_counter() - t0
    if log:
        log(f"walks_{network} on Spark: {n_vertices * walks_per_vertex:,} walks, {sum(words):,} steps in {seconds:.1f} s "
            f"({len(tasks)} tasks in {slices} partitions, each writing its walks as a part of its pass)")
    return write_stats(out, {"walks": n_vertices * walks_per_vertex, "tokens": sum(words), "seconds": round(seconds, 2)},
                       f"spark ({spark.sparkContext.master})", walk_length=walk_length, walks_per_vertex=walks_per_vertex,
                       seed=seed)
