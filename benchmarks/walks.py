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
PECANPY_KERNEL = """
import json, resource, sys, time
import numpy as np
from pecanpy import pecanpy
edg, walks_per_vertex, steps, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
g = pecanpy.FirstOrderUnweighted(p=1, q=1, workers=workers, verbose=False, random_state=0)
g.read_edg(edg, weighted=False, directed=False)
starts = np.concatenate([np.arange(g.num_nodes, dtype=np.uint32)] * walks_per_vertex)
np.random.default_rng(0).shuffle(starts)
move_forward, has_nbrs = g.get_move_forward(), g.get_has_nbrs()
def kernel(n):  # what simulate_walks runs before it maps indices to strings
    with pecanpy.ProgressBar(total=n, disable=True) as progress:
        return g._random_walks(n, steps, 0, starts[:n], has_nbrs, move_forward, progress)
kernel(1000)  # compile outside the timing
runs = []
for _ in range(int(sys.argv[5])):
    t = time.perf_counter()
    walks = kernel(len(starts))
    runs.append(time.perf_counter() - t)
print(json.dumps({"steps": int((walks[:, -1].astype(np.int64) - 1).sum()), "seconds": min(runs), "runs": runs,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_kernel(edges: Path, walks_per_vertex: int, steps: int, repeats: int) -> dict:
    """Our walk kernel alone, over every walk in one call (as PecanPy's kernel is timed): no corpus, no formatting;
    called ``repeats`` times, the best time reported (the others are the machine's noise: both kernels are
    deterministic)."""
    from pipeline.network.walks import _walk_batch, pass_order

    graph = load_graph(edges)
    indptr, indices = graph.indptr.astype(np.int64), graph.indices.astype(np.int32)
    starts = np.concatenate([pass_order(graph.n_vertices, 0, r) for r in range(walks_per_vertex)])
    _walk_batch(indptr, indices, starts[:1000], steps + 1, 0, 0, np.empty((1000, steps + 1), np.int32))  # compile
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = np.empty((len(starts), steps + 1), np.int32)  # a fresh matrix each call, as PecanPy's kernel makes one
        _walk_batch(indptr, indices, starts, steps + 1, 0, 0, out)
        runs.append(time.perf_counter() - t)
    return {"steps": int((out[:, 1:] >= 0).sum()), "seconds": min(runs), "runs": runs}


def random_graph_edges(n: int, mean_degree: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = n * mean_degree // 2
    edges = np.stack([rng.integers(0, n, m), rng.integers(0, n, m)], axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    edges.sort(axis=1)
    return np.unique(edges, axis=0)


def graph_edges(npz: Path) -> np.ndarray:
    """The undirected edges (u < v) of a pipeline graph file."""
    with np.load(npz) as z:
        indptr, indices = z["indptr"], z["indices"]
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    keep = rows < indices
    return np.stack([rows[keep], indices[keep]], axis=1).astype(np.int64)


def load_graph(path: Path):
    import polars as pl
    import scipy.sparse as sp

    from pipeline.network.graph import Graph

    edges = np.load(path)
    n = int(edges.max()) + 1
    adj = sp.coo_matrix((np.ones(2 * len(edges), np.int8), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                        shape=(n, n)).tocsr()
    adj.sort_indices()
    vertices = pl.DataFrame({"vertex": np.arange(n), "kind": ["v"] * n, "key": np.arange(n).astype(str)})
    return Graph(adj.indptr.astype(np.int64), adj.indices.astype(np.int32), vertices)


def run_ours(edges: Path, walks_per_vertex: int, steps: int) -> dict:
    from pipeline.network.walks import write_corpus

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
    parser.add_argument("--kernel-repeats", type=int, default=5, help="calls of each walk kernel; the best is reported")
    parser.add_argument("--pecanpy-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--graph", type=Path, help="a pipeline graph (graph.npz of graph_uss / graph_us) instead of a random one")
    parser.add_argument("--only", choices=["ours", "kernel", "python"], help=argparse.SUPPRESS)
    parser.add_argument("--edges", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.only:
        run = {"ours": lambda: run_ours(Path(args.edges), args.walks_per_vertex, args.steps),
               "kernel": lambda: run_kernel(Path(args.edges), args.walks_per_vertex, args.steps, args.kernel_repeats),
               "python": lambda: run_python(Path(args.edges), args.python_walks, args.steps)}[args.only]
        result = run()
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        edges = graph_edges(args.graph) if args.graph else random_graph_edges(args.vertices, args.mean_degree, seed=0)
        npy, edg = Path(tmp) / "edges.npy", Path(tmp) / "graph.edg"
        np.save(npy, edges)
        np.savetxt(edg, edges, fmt="%d", delimiter="\t")
        n_vertices = int(edges.max()) + 1
        kind = str(args.graph) if args.graph else f"random, mean degree {args.mean_degree}"
        print(f"graph: {n_vertices:,} vertices, {len(edges):,} edges ({kind}); "
              f"{args.walks_per_vertex} walks per vertex of {args.steps} steps; {os.cpu_count()} cores")
        me = [sys.executable, __file__, "--edges", str(npy), "--steps", str(args.steps), "--walks-per-vertex", str(args.walks_per_vertex)]
        pecan = [args.pecanpy_python, "-c", None, str(edg), str(args.walks_per_vertex), str(args.steps), str(os.cpu_count())]
        have_pecanpy = Path(args.pecanpy_python).exists()
        if not have_pecanpy:
            print(f"(PecanPy skipped: no {args.pecanpy_python}; `make bench` creates it)")
        kernels = {"ours: _walk_batch": child([*me, "--only", "kernel", "--kernel-repeats", str(args.kernel_repeats)])}
        if have_pecanpy:
            kernels["PecanPy: FirstOrderUnweighted kernel"] = child([*pecan[:2], PECANPY_KERNEL, *pecan[3:], str(args.kernel_repeats)])
        rows = {"ours (numba, corpus on disk)": child([*me, "--only", "ours"])}
        if have_pecanpy:
            rows["PecanPy FirstOrderUnweighted"] = child([*pecan[:2], PECANPY_SNIPPET, *pecan[3:]])
        rows["plain Python (sampled)"] = child([*me, "--only", "python", "--python-walks", str(args.python_walks)])
    table(f"kernel to kernel (walks in memory as integer arrays, nothing else timed; the best of {args.kernel_repeats} calls)", kernels)
    for name, r in kernels.items():
        print(f"  {name}: every call's seconds {', '.join(f'{x:.2f}' for x in r['runs'])}")
    table("end to end (what each gives its users)", rows)


def table(title: str, rows: dict) -> None:
    print(f"\n{title}\n{'walker':<38}{'M steps/s':>10}{'seconds':>9}{'peak RSS MB':>13}")
    for name, r in rows.items():
        print(f"{name:<38}{r['steps'] / r['seconds'] / 1e6:>10.2f}{r['seconds']:>9.1f}{r['rss_mb']:>13.0f}")
    ours = next(r for name, r in rows.items() if name.startswith("ours"))
    for name, r in rows.items():
        if not name.startswith("ours"):
            ratio = (ours["steps"] / ours["seconds"]) / (r["steps"] / r["seconds"])
            print(f"ratio ours / {name}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
