"""Skip-gram threads: words/s of DeepWalk's skip-gram (gensim, corpus_file, hierarchical softmax)
with 1 and with 2 worker threads, on the first tokens of a real walk corpus and its full vocabulary.

The vocabulary is the corpus's own (its vertex counts, as the pipeline builds it), so the weight
matrices have their real size: at the paper's scale 3.16M vertices x 128 dimensions x 2 matrices
= 3.2 GB, far more than the processor's cache. Each worker count runs in its own process.

    python benchmarks/threads.py --home .data/paper     # the latest walks_uss of `make paper`
    python benchmarks/threads.py --home .data           # the demo's: a small vocabulary, to compare
    python benchmarks/threads.py --walks <folder>       # any walks materialization's folder
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.contract import StageFiles  # noqa: E402
from pipeline.embedding.skipgram import SkipGramParams, new_model  # noqa: E402
from pipeline.network.walk_reader import walk_parts  # noqa: E402
from pipeline.network.walks import ShardedCorpus  # noqa: E402


def head(corpus: ShardedCorpus, tokens: int, out: Path) -> int:
    """Write the first whole walks of the corpus holding about ``tokens`` tokens; return the count."""
    written = 0
    with open(out, "w") as dst:
        for part in (p for shard in corpus.shards for p in walk_parts(shard)):  # a pass Spark wrote is a folder of parts
            with open(part) as src:
                for line in src:
                    dst.write(line)
                    written += line.count(" ") + 1
                    if written >= tokens:
                        return written
    return written


def train(walks: Path, sample: Path, words: int, workers: int, dimensions: int) -> dict:
    corpus = ShardedCorpus.load(StageFiles("walks_uss", walks))
    t = time.perf_counter()
    model = new_model(SkipGramParams(dimensions=dimensions, workers=workers), corpus.vertex_counts)
    build = time.perf_counter() - t
    t = time.perf_counter()
    model.train(corpus_file=str(sample), total_words=words, epochs=1)
    seconds = time.perf_counter() - t
    return {"workers": workers, "vocabulary": len(corpus.vertex_counts), "build_s": build, "train_s": seconds,
            "words_per_s": words / seconds, "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=str(ROOT / ".data" / "paper"), help="a LATENT_HOME: its latest walks_uss is used")
    parser.add_argument("--walks", help="a walks materialization's folder (instead of --home)")
    parser.add_argument("--tokens", type=float, default=10e6, help="tokens to train on (default 10M)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dimensions", type=int, default=128)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # sample, words, workers
    args = parser.parse_args()
    if args.child:
        sample, words, workers = args.child
        print(json.dumps(train(Path(args.walks), Path(sample), int(words), int(workers), args.dimensions)))
        return
    if args.walks:
        files = StageFiles("walks_uss", args.walks)
    else:
        from assets.stage_io import latest
        from paper_run.stages import instance_of

        found = latest(instance_of(Path(args.home)))
        if "walks_uss" not in found:
            raise SystemExit(f"{args.home} has no materialized walks_uss; materialize the walks first")
        files = found["walks_uss"]
    walks = files.folder
    if not files["index"].exists():
        raise SystemExit(f"no walk corpus at {walks} (a walks materialization holds {files['index'].name}); materialize the walks first")
    corpus = ShardedCorpus.load(files)
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.txt"
        words = head(corpus, int(args.tokens), sample)
        print(f"{walks}: {len(corpus.vertex_counts):,} vertices; training on its first {words:,} tokens, d={args.dimensions}")
        rows = []
        for w in args.workers:
            out = subprocess.run([sys.executable, __file__, "--walks", str(walks), "--dimensions", str(args.dimensions),
                                  "--child", str(sample), str(words), str(w)], check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"  workers {w}: {r['words_per_s'] / 1e3:6.0f}k words/s  ({r['train_s']:.1f} s; vocabulary and Huffman tree "
                  f"{r['build_s']:.1f} s; peak RSS {r['rss_gb']:.2f} GB)", flush=True)
    if len(rows) > 1:
        print(f"speed-up of {rows[-1]['workers']} workers over {rows[0]['workers']}: "
              f"{rows[-1]['words_per_s'] / rows[0]['words_per_s']:.2f}x")


if __name__ == "__main__":
    main()
