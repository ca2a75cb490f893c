"""Skip-gram training: gensim's corpus_file mode (ours) vs the in-memory iterable that deepwalk,
PecanPy and karateclub pass to gensim (a list of walks, each a list of token strings).

Same walks, same Word2Vec settings (DeepWalk's: sg=1, hs=1, negative=0, window 6, d=128,
one epoch, all cores); each mode in its own process so peak RSS is its own. Printed, not asserted.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from walks import load_graph, random_graph_edges  # noqa: E402

from pipeline.embedding.skipgram import SkipGramParams  # noqa: E402


def train(mode: str, corpus: Path, counts: Path, dimensions: int) -> dict:
    from gensim.models import Word2Vec

    params = SkipGramParams(dimensions=dimensions, workers=0).gensim_kwargs()
    vertex_counts = np.load(counts)
    total = int(vertex_counts.sum())
    model = Word2Vec(**params)
    if mode == "corpus_file":
        model.build_vocab_from_freq({str(v): int(c) for v, c in enumerate(vertex_counts)})
        t = time.perf_counter()
        model.train(corpus_file=str(corpus), total_words=total, epochs=1)
    else:
        walks = [line.split() for line in open(corpus)]  # what the peers hold in memory
        model.build_vocab(walks)
        t = time.perf_counter()
        model.train(walks, total_examples=len(walks), epochs=1)
    seconds = time.perf_counter() - t
    return {"words": total, "seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vertices", type=int, default=50_000)
    parser.add_argument("--walks-per-vertex", type=int, default=5)
    parser.add_argument("--walk-length", type=int, default=40)
    parser.add_argument("--dimensions", type=int, default=128)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--counts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(train(args.mode, Path(args.corpus), Path(args.counts), args.dimensions)))
        return
    from pipeline.network.walks import write_corpus

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "edges.npy", random_graph_edges(args.vertices, 10, seed=0))
        graph = load_graph(Path(tmp) / "edges.npy")
        corpus, counts = Path(tmp) / "corpus.txt", Path(tmp) / "counts.npy"
        stats = write_corpus(graph, corpus, args.walk_length, args.walks_per_vertex)
        np.save(counts, stats.vertex_counts)
        print(f"corpus: {stats.tokens:,} tokens ({graph.n_vertices:,} vertices x {args.walks_per_vertex} walks x {args.walk_length}); "
              f"d={args.dimensions}, window 6, hierarchical softmax, {os.cpu_count()} cores")
        rows = {}
        for mode in ("corpus_file", "iterable"):
            out = subprocess.run([sys.executable, __file__, "--mode", mode, "--corpus", str(corpus), "--counts", str(counts),
                                  "--dimensions", str(args.dimensions)], capture_output=True, text=True, check=True)
            rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{'mode':<14}{'k words/s':>10}{'seconds':>9}{'peak RSS MB':>13}")
    for mode, r in rows.items():
        print(f"{mode:<14}{r['words'] / r['seconds'] / 1e3:>10.0f}{r['seconds']:>9.1f}{r['rss_mb']:>13.0f}")
    a, b = rows["corpus_file"], rows["iterable"]
    print(f"corpus_file / iterable: {(a['words'] / a['seconds']) / (b['words'] / b['seconds']):.2f}x words/s, "
          f"{b['rss_mb'] / a['rss_mb']:.1f}x less peak RSS")


if __name__ == "__main__":
    main()
