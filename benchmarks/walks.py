"""Walk generation speed: our numba walker (text corpus included) vs a plain-Python walker.

The plain-Python walker is the original DeepWalk's way (random.choice over adjacency lists, walks
kept as lists). Both run on the same random graph; the figures are printed, not asserted.
Run: ``make bench`` (or ``python benchmarks/walks.py --vertices 200000``).
"""

import argparse
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.graph import Graph
from pipeline.walks import write_corpus


def random_graph(n: int, mean_degree: int, seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    m = n * mean_degree // 2
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    adj = sp.coo_matrix((np.ones(2 * m, np.int8), (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    adj.sum_duplicates()
    adj.sort_indices()
    vertices = pl.DataFrame({"vertex": np.arange(n), "kind": ["v"] * n, "key": np.arange(n).astype(str)})
    return Graph(adj.indptr.astype(np.int64), adj.indices.astype(np.int32), vertices)


def python_walks(adj: list[list[int]], starts: np.ndarray, walk_length: int, seed: int) -> int:
    rnd = random.Random(seed)
    walks = []
    for s in starts.tolist():
        walk = [s]
        while len(walk) < walk_length and adj[walk[-1]]:
            walk.append(rnd.choice(adj[walk[-1]]))
        walks.append(walk)
    return sum(map(len, walks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vertices", type=int, default=100_000)
    parser.add_argument("--mean-degree", type=int, default=10)
    parser.add_argument("--walk-length", type=int, default=40)
    parser.add_argument("--walks-per-vertex", type=int, default=20)
    parser.add_argument("--python-walks", type=int, default=50_000, help="walks for the (slow) plain-Python walker")
    args = parser.parse_args()
    graph = random_graph(args.vertices, args.mean_degree, seed=0)
    print(f"graph: {graph.n_vertices:,} vertices, {graph.n_edges:,} edges; L={args.walk_length}, cores={os.cpu_count()}")

    with tempfile.TemporaryDirectory() as tmp:
        write_corpus(graph, Path(tmp) / "warm.txt", 5, 1)  # compile outside the timing
        t = time.perf_counter()
        stats = write_corpus(graph, Path(tmp) / "corpus.txt", args.walk_length, args.walks_per_vertex)
        ours = stats.tokens / (time.perf_counter() - t)
        size = (Path(tmp) / "corpus.txt").stat().st_size
    starts = np.random.default_rng(1).integers(0, graph.n_vertices, args.python_walks)
    adj = [graph.indices[graph.indptr[v] : graph.indptr[v + 1]].tolist() for v in range(graph.n_vertices)]
    t = time.perf_counter()
    steps = python_walks(adj, starts, args.walk_length, seed=1)
    plain = steps / (time.perf_counter() - t)
    print(f"ours (numba, corpus written): {ours / 1e6:8.2f} M steps/s  ({stats.tokens:,} tokens, {size / 1e6:.0f} MB corpus)")
    print(f"plain Python (in memory)    : {plain / 1e6:8.2f} M steps/s  ({args.python_walks:,} walks)")
    print(f"ratio ours / plain Python   : {ours / plain:8.1f}x")
    print(f"peak RSS of this process    : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
