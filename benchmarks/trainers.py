"""The two skip-gram trainers side by side, as the embedding stages run them: gensim's corpus_file mode and the numba
kernel (pipeline.embedding.skipgram_numba: each centre's Huffman path shared by its window; pipeline.embedding.trainers reads it the walk file
with pipeline.network.walk_reader, and that reading is in its time), on the same walk file, in one sitting.

For each vocabulary size a graph is made whose degrees are heavy-tailed (one endpoint of each edge drawn with
weights (rank + 1) ** -0.8, as songs' popularity is, the ranks shuffled over the ids), one pass of walks (length 40) is walked from every vertex, and both
trainers train DeepWalk's skip-gram on the first ``--max-words`` of it with the whole vocabulary's tree
(``train_shards``' measure: the rate at the full size without the full pass). d = 128, window 6, all cores;
each training in its own process, so the peak RSS printed is its own; the reading of the walk file alone is timed
once. Printed, not asserted.

    python benchmarks/trainers.py                          # 16k (the demo's), 200k and 3.16M vertices
    python benchmarks/trainers.py --threads 1              # as the pipeline trains by default (workers=1)
    python benchmarks/trainers.py --vertices 200000 --max-words 5000000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def skewed_edges(n: int, mean_degree: int, seed: int) -> np.ndarray:
    """Undirected edges (u < v) of n vertices; one endpoint of each edge drawn with weights (rank + 1) ** -0.8, the
    other uniformly (as a session meets songs of skewed popularity); ranks shuffled over the ids, as a pipeline's
    graph numbers its vertices by kind and key, not by popularity."""
    rng = np.random.default_rng(seed)
    weights = (np.arange(n) + 1.0) ** -0.8
    weights /= weights.sum()
    m = n * mean_degree // 2
    popular = rng.permutation(n)[rng.choice(n, m, p=weights)]
    edges = np.stack([popular, rng.integers(0, n, m)], axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    edges.sort(axis=1)
    return np.unique(edges, axis=0)


def make_walks(n: int, max_words: int, folder: Path) -> None:
    """walks.npy (int32, one walk a row), corpus.txt (the same walks as gensim reads them), counts.npy (the whole pass's)."""
    import polars as pl
    import scipy.sparse as sp

    from pipeline.network.graph import Graph
    from pipeline.network.walks import generate_walks, walk_text

    edges = skewed_edges(n, 10, seed=0)
    adj = sp.coo_matrix((np.ones(2 * len(edges), np.int8), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                        shape=(n, n)).tocsr()
    adj.sort_indices()
    graph = Graph(adj.indptr.astype(np.int64), adj.indices.astype(np.int32),
                  pl.DataFrame({"vertex": np.arange(n), "kind": ["v"] * n, "key": np.arange(n).astype(str)}))
    counts = np.zeros(n, np.int64)
    kept, words = [], 0
    with open(folder / "corpus.txt", "wb") as out:
        for _, walks in generate_walks(graph, 40, 1, seed=1):
            valid = walks[walks >= 0]
            counts += np.bincount(valid, minlength=n)
            if words < max_words:
                take = walks[: max(1, (max_words - words) // walks.shape[1])]
                kept.append(take)
                out.write(walk_text(take))
                words += int((take >= 0).sum())
    counts = np.maximum(counts, 1)  # an isolated vertex still has a leaf (as the pipeline's vocabulary does)
    np.save(folder / "walks.npy", np.concatenate(kept).astype(np.int32))
    np.save(folder / "counts.npy", counts)


def train(trainer: str, folder: Path, threads: int) -> dict:
    counts = np.load(folder / "counts.npy")
    walks = np.load(folder / "walks.npy", mmap_mode="r")
    words = int((walks >= 0).sum())
    if trainer == "gensim":
        from gensim.models import Word2Vec

        from pipeline.embedding.skipgram import SkipGramParams

        model = Word2Vec(**SkipGramParams(workers=threads).gensim_kwargs())
        model.build_vocab_from_freq({str(v): int(c) for v, c in enumerate(counts)})
        t = time.perf_counter()
        model.train(corpus_file=str(folder / "corpus.txt"), total_words=words, epochs=1)  # (its tree is built above, untimed)
    else:
        from pipeline.embedding.skipgram import SkipGramParams
        from pipeline.embedding.trainers import NumbaTrainer

        trainer = NumbaTrainer(SkipGramParams(workers=threads), counts)
        warm = folder / "warm.txt"  # compiles the kernel outside the timing
        with open(folder / "corpus.txt", "rb") as fh:  # (the first 1,000 lines only: the whole file would count in its peak)
            warm.write_bytes(b"".join(itertools.islice(fh, 1000)))
        trainer.train_unit(trainer.fresh(), warm, int((walks[:1000] >= 0).sum()), 0, 0.025, 0.0001)
        model = trainer.fresh()
        t = time.perf_counter()
        trainer.train_unit(model, folder / "corpus.txt", words, 0, 0.025, 0.0001)
    seconds = time.perf_counter() - t
    return {"words": words, "seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def reading_rate(folder: Path) -> float:
    """MB of walk text a second that pipeline.network.walk_reader turns into int32 walks."""
    from pipeline.network.walk_reader import read_walk_blocks

    path = folder / "corpus.txt"
    for _ in read_walk_blocks(path, 2**31 - 1):  # compiles, and the file is in the page cache as for training
        pass
    t = time.perf_counter()
    for _ in read_walk_blocks(path, 2**31 - 1):
        pass
    return path.stat().st_size / 1e6 / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vertices", type=int, nargs="+", default=[16_213, 200_000, 3_160_000])
    parser.add_argument("--max-words", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="training threads (0: all cores; the pipeline's default is 1)")
    parser.add_argument("--trainer", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trainer:
        print(json.dumps(train(args.trainer, Path(args.folder), args.threads)))
        return
    print(f"skip-gram, hierarchical softmax, d=128, window 6, {args.threads or os.cpu_count()} thread(s); at most {args.max_words:,} words of one "
          f"pass; each trainer {args.repeats} times, alternately (single runs vary by up to a third on this machine)")
    print(f"{'vertices':>10}{'trainer':>9}{'k words/s':>11}{'seconds':>9}{'peak RSS MB':>13}")
    for n in args.vertices:
        with tempfile.TemporaryDirectory() as tmp:
            make_walks(n, args.max_words, Path(tmp))
            print(f"{n:>10,}  reading the walk file: {reading_rate(Path(tmp)):,.0f} MB/s", flush=True)
            rates: dict[str, list[float]] = {"gensim": [], "numba": []}
            for _ in range(args.repeats):
                for trainer in rates:
                    done = subprocess.run([sys.executable, __file__, "--trainer", trainer, "--folder", tmp, "--threads", str(args.threads)], cwd=ROOT,
                                          capture_output=True, text=True, check=True)
                    r = json.loads(done.stdout.strip().splitlines()[-1])
                    rates[trainer].append(r["words"] / r["seconds"])
                    print(f"{n:>10,}{trainer:>9}{rates[trainer][-1] / 1e3:>11,.0f}{r['seconds']:>9.1f}{r['rss_mb']:>13,.0f}", flush=True)
            best = {t: max(v) for t, v in rates.items()}
            median = {t: float(np.median(v)) for t, v in rates.items()}
            print(f"{n:>10,}  numba / gensim: {best['numba'] / best['gensim']:.2f}x (best of each), "
                  f"{median['numba'] / median['gensim']:.2f}x (medians)", flush=True)


if __name__ == "__main__":
    main()
