"""Exact nearest songs at paper scale: queries x 441,796 songs in 128-d, batched BLAS + partial sort.

Random vectors stand in for the embedding (the cost does not depend on the values). Times a slice
of the queries and extrapolates to ``--queries`` (200,000 in the paper's evaluation). Printed, not asserted.
"""

import argparse
import os
import time

import numpy as np

from pipeline.evaluate import DOT, EUCLIDEAN, nearest


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


if __name__ == "__main__":
    main()
