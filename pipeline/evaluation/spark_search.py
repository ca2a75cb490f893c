"""Exact nearest songs on Spark: ``pipeline.evaluation.nearest.nearest``'s signature and answers, its queries spread over the
executors.

The song matrix is broadcast once per matrix (every executor keeps one copy for all its tasks); the queries go out
in blocks of at most ``QUERY_BLOCK`` rows (fewer when that leaves a core idle), one task each, and every task runs the local kernel on its block with the cores
Spark gave it. A query's answer depends only on that query and the songs, so the results equal the local ones
whatever the blocks and executors (held to that in ``tests/test_spark_engine.py``).
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import SparkSession

from pipeline.evaluation.nearest import nearest

QUERY_BLOCK = 8_192  # queries a task ranks: 4 MB of 128-d float32 to ship, seconds of work at 400k songs


def _rank_block(block, items, k: int, metric: str):
    from pyspark import TaskContext

    context = TaskContext.get()
    for first, queries, exclude in block:
        yield first, nearest(queries, items.value, k, metric, exclude, workers=context.cpus() if context else 1)


class SparkSearch:
    """``nearest`` on a Spark cluster (``search=`` of ``pipeline.evaluation.methods.Space``)."""

    def __init__(self, spark: SparkSession, query_block: int = QUERY_BLOCK):
        self.spark, self.query_block = spark, query_block
        self._broadcasts: dict[int, tuple[np.ndarray, object]] = {}  # id(matrix) -> (matrix, its broadcast)

    def _items(self, items: np.ndarray):
        held = self._broadcasts.get(id(items))
        if held is None or held[0] is not items:
            held = (items, self.spark.sparkContext.broadcast(np.ascontiguousarray(items, dtype=np.float32)))
            self._broadcasts[id(items)] = held
        return held[1]

    def __call__(self, queries: np.ndarray, items: np.ndarray, k: int, metric: str,
                 exclude: np.ndarray | None = None) -> np.ndarray:
        if not len(queries):
            return nearest(queries, items, k, metric, exclude)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        size = min(self.query_block, -(-len(queries) // self.spark.sparkContext.defaultParallelism))  # every core busy
        blocks = [(first, queries[first:first + size], None if exclude is None else exclude[first:first + size])
                  for first in range(0, len(queries), size)]
        shared = self._items(items)
        ranked = self.spark.sparkContext.parallelize(blocks, len(blocks)).mapPartitions(
            lambda block: _rank_block(block, shared, k, metric)).collect()
        return np.concatenate([top for _, top in sorted(ranked, key=lambda r: r[0])])

    def close(self) -> None:
        for _, broadcast in self._broadcasts.values():
            broadcast.unpersist()
        self._broadcasts.clear()
