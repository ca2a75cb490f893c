"""Uniform random walks over a CSR graph, streamed to a text corpus (DeepWalk, Section 3.2).

``walks_per_vertex`` passes; each pass visits every vertex once, in a seeded random order, and
starts a walk of ``walk_length`` vertices there (the start included), stepping to a uniformly
chosen neighbour. The corpus has one walk a line, vertex ids as space-separated decimals, which
is what gensim's ``corpus_file`` mode reads.

Every walk draws from its own counter-based stream, seeded by (seed, pass, start vertex), so a
seed gives the same corpus whatever the number of threads. Walks are made and written a batch at
a time: memory is bounded by the batch, never by the corpus.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numba
import numpy as np

from pipeline import defaults
from pipeline.contract import Log, StageFiles, Upstream, graph_stage
from pipeline.io import atomic_path, read_json, save_npy, write_json
from pipeline.network.graph import Graph
from pipeline.network.walk_reader import walk_parts

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@numba.njit(inline="always")
def _splitmix64(x):
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


BATCH = 1 << 16  # start vertices walked, formatted and written at a time (both engines: the same lines in the same order)
LANES = 8  # walks a thread advances side by side: their memory loads overlap instead of waiting one by one


@numba.njit(parallel=True, cache=True)
def _walk_batch(indptr, indices, starts, walk_length, seed, pass_index, out):
    """Fill ``out[i]`` with the walk from ``starts[i]``; -1 pads a walk stuck at an isolated vertex.

    Each thread takes ``LANES`` walks at a time and advances them a step each in turn: the steps of one walk
    depend on each other (the next vertex is read where the last one points), those of different walks do not,
    so the processor has several loads in flight. Every walk keeps its own stream, so the walks are the same
    whatever the lanes and threads."""
    n = len(starts)
    seeded = _splitmix64(np.uint64(seed))
    for g in numba.prange((n + LANES - 1) // LANES):
        first = g * LANES
        k = min(LANES, n - first)
        at = np.empty(LANES, np.int64)
        state = np.empty(LANES, np.uint64)
        for lane in range(k):
            v = np.int64(starts[first + lane])
            at[lane] = v
            state[lane] = _splitmix64(seeded ^ _splitmix64(np.uint64(pass_index) * _M1 + np.uint64(v)))
            out[first + lane, 0] = v
        for j in range(1, walk_length):
            for lane in range(k):
                v = at[lane]
                if v >= 0:
                    lo = indptr[v]
                    deg = indptr[v + 1] - lo
                    if deg == 0:
                        v = -1
                    else:
                        s = state[lane] + _GOLDEN
                        state[lane] = s
                        v = np.int64(indices[lo + np.int64(_splitmix64(s) % np.uint64(deg))])
                    at[lane] = v
                out[first + lane, j] = v


@numba.njit(cache=True)
def _format_walks(walks):
    """Walks as ASCII text, one walk a line: no per-token Python."""
    n, length = walks.shape
    buf = np.empty(n * length * 11 + n, dtype=np.uint8)
    digits = np.empty(20, dtype=np.uint8)
    p = 0
    for i in range(n):
        first = True
        for j in range(length):
            v = walks[i, j]
            if v < 0:
                break
            if not first:
                buf[p] = 32  # space
                p += 1
            first = False
            k = 0
            while True:
                digits[k] = 48 + v % 10
                v //= 10
                k += 1
                if v == 0:
                    break
            for t in range(k - 1, -1, -1):
                buf[p] = digits[t]
                p += 1
        buf[p] = 10  # newline
        p += 1
    return buf[:p]


@dataclass
class WalkStats:
    walks: int
    tokens: int
    vertex_counts: np.ndarray  # occurrences of each vertex in the corpus (the skip-gram vocabulary)
    seconds: float


def pass_order(n_vertices: int, seed: int, pass_index: int) -> np.ndarray:
    """The seeded order in which one pass visits the vertices."""
    return np.random.default_rng([seed, pass_index]).permutation(n_vertices).astype(np.int64)


def walk_batch(indptr: np.ndarray, indices: np.ndarray, starts: np.ndarray, walk_length: int, seed: int,
               pass_index: int) -> np.ndarray:
    """The walks of pass ``pass_index`` from ``starts`` (int64 indptr, int32 indices), one row each, -1 padded."""
    out = np.empty((len(starts), walk_length), dtype=np.int32)  # half the bytes of int64 to write and format
    _walk_batch(indptr, indices, starts, walk_length, seed, pass_index, out)
    return out


def walk_text(walks: np.ndarray) -> bytes:
    """A batch of walks as corpus lines."""
    return _format_walks(walks).tobytes()


def visits(walks: np.ndarray, n_vertices: int) -> tuple[np.ndarray, int]:
    """How often each vertex occurs in a batch of walks, and the batch's tokens."""
    valid = walks[walks >= 0]
    return np.bincount(valid, minlength=n_vertices), len(valid)


def generate_walks(
    graph: Graph,
    walk_length: int = defaults.WALK_LENGTH,
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX,
    seed: int = defaults.SEED,
    batch_size: int = BATCH,
    passes: list[int] | None = None,
):
    """Yield (pass, batch of walks as an int array) in corpus order (``passes``: a subset of the passes)."""
    if walk_length < 1 or walks_per_vertex < 1:
        raise ValueError("walk_length and walks_per_vertex must be at least 1")
    indptr = graph.indptr.astype(np.int64)  # edges can outnumber 2^31; vertices do not (the graph stores them as int32)
    indices = graph.indices.astype(np.int32, copy=False)
    for r in passes if passes is not None else range(walks_per_vertex):
        order = pass_order(graph.n_vertices, seed, r)
        for b in range(0, len(order), batch_size):
            yield r, walk_batch(indptr, indices, order[b : b + batch_size], walk_length, seed, r)


def write_corpus(
    graph: Graph,
    path: Path | str,
    walk_length: int = defaults.WALK_LENGTH,
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX,
    seed: int = defaults.SEED,
    batch_size: int = BATCH,
    progress: Callable[[str], None] | None = None,
    progress_every_s: float = 5.0,
    passes: list[int] | None = None,
) -> WalkStats:
    """Write every walk (of ``passes``, default all) to ``path`` atomically; return counts for the vocabulary."""
    total = graph.n_vertices * (len(passes) if passes is not None else walks_per_vertex)
    counts = np.zeros(graph.n_vertices, dtype=np.int64)
    done = tokens = 0
    t0 = last = time.perf_counter()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for _, walks in generate_walks(graph, walk_length, walks_per_vertex, seed, batch_size, passes):
            fh.write(walk_text(walks))
            seen, steps = visits(walks, graph.n_vertices)
            counts += seen
            done += len(walks)
            tokens += steps
            now = time.perf_counter()
            if progress and (now - last >= progress_every_s or done == total):
                rate = tokens / max(now - t0, 1e-9)
                eta = (total - done) * walk_length / max(rate, 1e-9)
                progress(f"walks {done:,}/{total:,} ({100 * done / total:.0f}%), {rate / 1e6:.1f}M steps/s, ETA {eta:.0f}s")
                last = now
    return WalkStats(walks=done, tokens=tokens, vertex_counts=counts, seconds=time.perf_counter() - t0)


@dataclass
class ShardedCorpus:
    """The corpus as one file per pass, which training can checkpoint between."""

    shards: list[Path]
    shard_words: list[int]
    vertex_counts: np.ndarray

    @classmethod
    def load(cls, files: StageFiles) -> "ShardedCorpus":
        """A walks stage's corpus: its shard index (names relative to its folder) and vertex counts."""
        index = read_json(files["index"])
        return cls([files.folder / n for n in index["shards"]], index["shard_words"], np.load(files["vertex_counts"]))

    def first(self, n: int) -> "ShardedCorpus":
        """The first ``n`` shards (0: all), with the whole corpus's vertex counts, so that the vocabulary and
        Huffman tree are those of a training on every shard."""
        if n < 0 or n > len(self.shards):
            raise ValueError(f"train_shards={n}: the walks have {len(self.shards)} shards (0 trains on all of them)")
        return self if n in (0, len(self.shards)) else ShardedCorpus(self.shards[:n], self.shard_words[:n], self.vertex_counts)


def write_corpus_shards(
    graph: Graph,
    files: StageFiles,
    walk_length: int = defaults.WALK_LENGTH,
    walks_per_vertex: int = defaults.WALKS_PER_VERTEX,
    seed: int = defaults.SEED,
    progress: Callable[[str], None] | None = None,
) -> tuple[ShardedCorpus, WalkStats]:
    """One corpus file per pass (a walks stage's ``shard`` series), the same walks as ``write_corpus`` makes,
    then the shard index and the vertex counts."""
    files.folder.mkdir(parents=True, exist_ok=True)
    shards, words = [], []
    counts = np.zeros(graph.n_vertices, dtype=np.int64)
    t0 = time.perf_counter()
    for r in range(walks_per_vertex):
        path = files.series("shard", r)
        stats = write_corpus(graph, path, walk_length, walks_per_vertex, seed, passes=[r])
        shards.append(path)
        words.append(stats.tokens)
        counts += stats.vertex_counts
        if progress:
            elapsed = time.perf_counter() - t0
            progress(f"walks: pass {r + 1}/{walks_per_vertex} written, {sum(words) / elapsed / 1e6:.1f}M steps/s, "
                     f"ETA {elapsed / (r + 1) * (walks_per_vertex - r - 1):.0f}s")
    save_npy(files["vertex_counts"], counts)
    write_json(files["index"], {"shards": [p.name for p in shards], "shard_words": words})
    walks = graph.n_vertices * walks_per_vertex
    return ShardedCorpus(shards, words, counts), WalkStats(walks=walks, tokens=sum(words), vertex_counts=counts,
                                                           seconds=time.perf_counter() - t0)


def read_walks(path: Path | str, limit: int | None = None) -> list[np.ndarray]:
    """The first ``limit`` walks of a corpus (a file or a folder of parts; for checks and tests)."""
    walks = []
    for part in walk_parts(path):
        with open(part) as fh:
            for line in fh:
                if limit is not None and len(walks) >= limit:
                    return walks
                walks.append(np.array(line.split(), dtype=np.int64))
    return walks


def walks(network: str, upstream: Upstream, out: StageFiles, log: Log = None, *, walk_length: int = defaults.WALK_LENGTH,
          walks_per_vertex: int = defaults.WALKS_PER_VERTEX, seed: int = defaults.SEED) -> dict:
    """The ``walks_<network>`` stage: ``walks_per_vertex`` passes of walks over the network, as corpus shards."""
    g = Graph.load(upstream[graph_stage(network)])
    _, stats = write_corpus_shards(g, out, walk_length, walks_per_vertex, seed, progress=log)
    return write_stats(out, {"walks": stats.walks, "tokens": stats.tokens, "seconds": round(stats.seconds, 2)},
                       "local", walk_length=walk_length, walks_per_vertex=walks_per_vertex, seed=seed)


def write_stats(out: StageFiles, counts: dict, engine: str, **settings) -> dict:
    """A walks stage's ``stats.json``: its counts, the settings and seed the walks were drawn with (the embeddings
    record them) and the engine that drew them; returns ``counts``."""
    write_json(out["stats"], {**counts, **settings, "engine": engine})
    return counts
