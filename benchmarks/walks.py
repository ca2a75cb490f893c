"""Walk generation: our numba walker vs PecanPy's FirstOrderUnweighted vs a plain-Python walker.

All three walk the same random graph, each in its own process (so peak RSS is each one's own),
with the same number of steps per walk (ours: walk_length L+1 vertices = L steps; PecanPy's
walk_length counts steps). Reported: M steps/s of the walk phase and the process's peak RSS.
- ours: walks *and* the text corpus written to disk, in batches (what the pipeline does);
- PecanPy: ``simulate_walks`` (walks kept in memory as lists of strings, what its users get);
  graph loading and preprocessing are not timed;
- plain Python: the original DeepWalk's way (``random.choice`` over adjacency lists, walks in
  memory), on a sample of walks (it is slow) and extrapolated as a rate.
PecanPy runs from a separate environment (``make bench`` makes ``.venv-bench``); it pins numpy < 2
and never enters the runtime. The figures are printed, not asserted.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PECANPY_SNIPPET = """
import json, resource, sys, time
from pecanpy import pecanpy
edg, walks_per_vertex, steps, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
g = pecanpy.FirstOrderUnweighted(p=1, q=1, workers=workers, verbose=False, random_state=0)
g.read_edg(edg, weighted=False, directed=False)
g.simulate_walks(num_walks=1, walk_length=2)  # compile outside the timing
t = time.perf_counter()
walks = g.simulate_walks(num_walks=walks_per_vertex, walk_length=steps)
seconds = time.perf_counter() - t
print(json.dumps({"steps": sum(len(w) - 1 for w in walks), "seconds": seconds,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def random_graph_edges(n: int, mean_degree: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = n * mean_degree // 2
    edges = np.stack([rng.integers(0, n, m), rng.integers(0, n, m)], axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    edges.sort(axis=1)
    return np.unique(edges, axis=0)


def load_graph(path: Path):
    import polars as pl
    import scipy.sparse as sp

    from pipeline.graph import Graph

    edges = np.load(path)
    n = int(edges.max()) + 1
    adj = sp.coo_matrix((np.ones(2 * len(edges), np.int8), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                        shape=(n, n)).tocsr()
    adj.sort_indices()
    vertices = pl.DataFrame({"vertex": np.arange(n), "kind": ["v"] * n, "key": np.arange(n).astype(str)})
    return Graph(adj.indptr.astype(np.int64), adj.indices.astype(np.int32), vertices)


def run_ours(edges: Path, walks_per_vertex: int, steps: int) -> dict:
    from pipeline.walks import write_corpus

    graph = load_graph(edges)
    with tempfile.TemporaryDirectory() as tmp:
        write_corpus(graph, Path(tmp) / "warm.txt", 3, 1)  # compile outside the timing
        t = time.perf_counter()
        stats = write_corpus(graph, Path(tmp) / "corpus.txt", steps + 1, walks_per_vertex)
        seconds = time.perf_counter() - t
        size = (Path(tmp) / "corpus.txt").stat().st_size
    return {"steps": stats.tokens - stats.walks, "seconds": seconds, "corpus_mb": size / 1e6}


def run_python(edges: Path, walks: int, steps: int) -> dict:
    graph = load_graph(edges)
    adj = [graph.indices[graph.indptr[v] : graph.indptr[v + 1]].tolist() for v in range(graph.n_vertices)]
    starts = np.random.default_rng(1).integers(0, graph.n_vertices, walks).tolist()
    rnd = random.Random(1)
    t = time.perf_counter()
    out = []
    for s in starts:
        walk = [s]
        while len(walk) <= steps and adj[walk[-1]]:
            walk.append(rnd.choice(adj[walk[-1]]))
        out.append(walk)
    return {"steps": sum(len(w) - 1 for w in out), "seconds": time.perf_counter() - t}


def child(cmd: list[str]) -> dict:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vertices", type=int, default=200_000)
    parser.add_argument("--mean-degree", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40, help="steps per walk (the paper's L=40)")
    parser.add_argument("--walks-per-vertex", type=int, default=20)
    parser.add_argument("--python-walks", type=int, default=100_000)
    parser.add_argument("--pecanpy-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--only", choices=["ours", "python"], help=argparse.SUPPRESS)
    parser.add_argument("--edges", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.only:
        result = run_ours(Path(args.edges), args.walks_per_vertex, args.steps) if args.only == "ours" else \
            run_python(Path(args.edges), args.python_walks, args.steps)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        edges = random_graph_edges(args.vertices, args.mean_degree, seed=0)
        npy, edg = Path(tmp) / "edges.npy", Path(tmp) / "graph.edg"
        np.save(npy, edges)
        np.savetxt(edg, edges, fmt="%d", delimiter="\t")
        n_vertices = int(edges.max()) + 1
        print(f"graph: {n_vertices:,} vertices, {len(edges):,} edges (random, mean degree {args.mean_degree}); "
              f"{args.walks_per_vertex} walks per vertex of {args.steps} steps; {os.cpu_count()} cores")
        me = [sys.executable, __file__, "--edges", str(npy), "--steps", str(args.steps), "--walks-per-vertex", str(args.walks_per_vertex)]
        rows = {"ours (numba, corpus on disk)": child([*me, "--only", "ours"])}
        if Path(args.pecanpy_python).exists():
            rows["PecanPy FirstOrderUnweighted"] = child(
                [args.pecanpy_python, "-c", PECANPY_SNIPPET, str(edg), str(args.walks_per_vertex), str(args.steps), str(os.cpu_count())])
        else:
            print(f"(PecanPy skipped: no {args.pecanpy_python}; `make bench` creates it)")
        rows["plain Python (sampled)"] = child([*me, "--only", "python", "--python-walks", str(args.python_walks)])
    print(f"{'walker':<32}{'M steps/s':>10}{'seconds':>9}{'peak RSS MB':>13}")
    for name, r in rows.items():
        print(f"{name:<32}{r['steps'] / r['seconds'] / 1e6:>10.2f}{r['seconds']:>9.1f}{r['rss_mb']:>13.0f}")
    ours = rows["ours (numba, corpus on disk)"]
    for name, r in rows.items():
        if not name.startswith("ours"):
            ratio = (ours["steps"] / ours["seconds"]) / (r["steps"] / r["seconds"])
            print(f"ratio ours / {name}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
