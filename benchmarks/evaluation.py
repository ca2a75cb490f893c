"""Exact nearest songs at paper scale: queries x 441,796 songs in 128-d, tiled BLAS + a running top k.

Random vectors stand in for the embedding (the cost does not depend on the values). Times a slice
of the queries and extrapolates to ``--queries`` (200,000 in the paper's evaluation). Printed, not asserted.
"""

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from pipeline.evaluation.nearest import DOT, EUCLIDEAN, ITEM_TILE, QUERY_BATCH, nearest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--songs", type=int, default=441_796)
    parser.add_argument("--dimensions", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200_000)
    parser.add_argument("--timed-queries", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    songs = rng.standard_normal((args.songs, args.dimensions), dtype=np.float32)
    queries = rng.standard_normal((args.timed_queries, args.dimensions), dtype=np.float32)
    exclude = rng.integers(0, args.songs, args.timed_queries)
    print(f"{args.timed_queries:,} queries timed against {args.songs:,} songs, d={args.dimensions}, k={args.k}, {os.cpu_count()} cores")
    for metric in (EUCLIDEAN, DOT):
        t = time.perf_counter()
        nearest(queries, songs, args.k, metric, exclude=exclude)
        seconds = time.perf_counter() - t
        full = seconds * args.queries / args.timed_queries
        print(f"{metric:<10} {args.timed_queries / seconds:8.0f} queries/s -> {args.queries:,} queries in {full / 60:.1f} min")
    # Where the time goes: the same matrix products with no selection (a batch of queries x a tile
    # of songs into a buffer that stays in cache, one BLAS thread per core, as `nearest` does them),
    # against this machine's best single-precision matrix product (a square one).
    workers = os.cpu_count() or 1

    def products_only(worker: int) -> None:
        buffer = np.empty((QUERY_BATCH, ITEM_TILE), dtype=np.float32)
        for b in range(worker * QUERY_BATCH, args.timed_queries, workers * QUERY_BATCH):
            q = queries[b : b + QUERY_BATCH]
            for c in range(0, args.songs, ITEM_TILE):
                block = songs[c : c + ITEM_TILE]
                np.matmul(q, block.T, out=buffer[: len(q), : len(block)])

    t = time.perf_counter()
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        list(pool.map(products_only, range(workers)))
    products = time.perf_counter() - t
    flop = 2.0 * args.timed_queries * args.songs * args.dimensions
    square = rng.standard_normal((4096, 4096), dtype=np.float32)
    square @ square
    t = time.perf_counter()
    for _ in range(3):
        square @ square
    peak = 3 * 2.0 * 4096**3 / (time.perf_counter() - t)
    print(f"matrix products alone: {flop / products / 1e9:.0f} GFLOP/s ({products * args.queries / args.timed_queries / 60:.1f} min "
          f"for {args.queries:,} queries); a square 4096 product: {peak / 1e9:.0f} GFLOP/s, so at best "
          f"{flop * args.queries / args.timed_queries / peak / 60:.1f} min for the products")


if __name__ == "__main__":
    main()
