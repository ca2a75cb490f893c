"""Skip-gram with hierarchical softmax over int32 walks, trained by a numba kernel: DeepWalk's training as gensim
defines it (``pipeline.embed``), with each centre vertex's Huffman path shared by its whole window.

The rules are gensim's (``word2vec_inner.pyx``, ``sg=1, hs=1, negative=0``): for each centre vertex of a walk, a
reduced window ``window - b`` on each side (``b`` drawn uniformly from ``0 .. window - 1``); each context vertex's
input vector is trained to predict the centre's code along the centre's path in the Huffman tree
(``pipeline.huffman``, gensim's tree node for node); a dot product at or beyond +-6 gives no update (gensim's
``MAX_EXP``), and the sigmoid is read from gensim's table of 1,000 points; the learning rate falls linearly from ``alpha`` to ``min_alpha`` over the words of all passes; input
vectors start uniform in +-0.5/d, the tree's vectors at zero. Threads share the matrices without locks (Hogwild, as
gensim's workers do).

One lever differs from gensim, and only in the order of updates (Ji et al. 2016, *Parallelizing Word2Vec in Shared
and Distributed Memory*, applied to hierarchical softmax): gensim walks the centre's path once per context vertex,
updating each tree node after each context (three level-1 BLAS calls a node); here every context vertex of the
window is scored against the whole path at once, three small matrix products a window (the scores, the contexts'
updates, the path's updates). Within one window the contexts see the path as it was before the window, a
difference of the same kind as the lock-free threads' own. (The same sharing written as numba loops, without the
products, measured 278k words/s against the products' 360k at 200k vertices, best of three.)

The Python face is :func:`train`; the kernel is :func:`_train_walks`. Each thread's draws come from a counter-based
stream per block of walks, so one thread reproduces its vectors bit for bit; more threads, like gensim's workers,
interleave their updates and do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from pipeline import defaults
from pipeline.huffman import _codes, _tree
from pipeline.walks import _GOLDEN
from pipeline.walks import _splitmix64 as _mix  # the walks' counter-based stream, for the reduced windows

MAX_EXP = 6.0  # gensim's: a score beyond it gives no update
EXP_TABLE_SIZE = 1000  # gensim's sigmoid table: the score's sigmoid read at one of 1,000 points over +-MAX_EXP
_EXP = np.exp((np.arange(EXP_TABLE_SIZE) / EXP_TABLE_SIZE * 2 - 1) * MAX_EXP)
SIGMOID = (_EXP / (_EXP + 1)).astype(np.float32)
BLOCK_WALKS = 256  # walks a thread takes at a time (its draws come from one stream per block)


@dataclass(frozen=True)
class Tree:
    """The Huffman tree of a vocabulary in flat arrays: vertex ``v``'s codes and inner nodes are
    ``codes[offsets[v]:offsets[v + 1]]`` and ``points[...]`` (from the root)."""

    codes: np.ndarray  # uint8
    points: np.ndarray  # int32
    offsets: np.ndarray  # int64

    @classmethod
    def of(cls, counts: np.ndarray) -> Tree:
        """gensim's tree for vertices with these counts (every vertex with a count above zero has a leaf)."""
        n = len(counts)
        if n < 2:
            raise ValueError("a hierarchical softmax needs at least two vertices")
        left, right = _tree(np.asarray(counts, np.int64))
        codes, points, offsets = _codes(n, left, right)
        return cls(codes, points.astype(np.int32), offsets)

    @property
    def depth(self) -> int:
        return int(np.diff(self.offsets).max())


@numba.njit(parallel=True, cache=True)
def _init_vectors(n, d, seed):
    """Input vectors uniform in +-0.5/d, each row from its own stream (seed, row)."""
    out = np.empty((n, d), np.float32)
    for v in numba.prange(n):
        state = _mix(np.uint64(seed) * np.uint64(0x100000001B3) ^ np.uint64(v))
        for k in range(d):
            state = _mix(state)
            out[v, k] = ((state >> np.uint64(40)) * (1.0 / 16777216.0) - 0.5) / d
    return out


@numba.njit(parallel=True, fastmath=True, cache=True)
def _train_walks(walks, syn0, syn1, codes, points, offsets, window, alpha, min_alpha, done_before, total,
                 seed, block, sigmoid, depth):
    """One pass over ``walks`` (int32, one walk a row, -1 past a walk's end). ``done_before``: words of earlier
    passes (the learning rate falls over ``total`` words). Returns the words trained on.

    Per centre, with X the window's input vectors (k x d) and P its path's tree vectors (L x d): the scores
    F = X P^T, the gradients G = (1 - code - sigmoid(F)) * alpha (zero where |F| >= MAX_EXP), then X += G P and
    P += G^T X, each one small matrix product (BLAS), then written back to the rows they came from."""
    n_walks, length = walks.shape
    d = syn0.shape[1]
    n_blocks = (n_walks + block - 1) // block
    span = 2 * window
    trained = np.zeros(n_blocks, np.int64)
    for b in numba.prange(n_blocks):
        x = np.empty((span, d), np.float32)  # the window's input vectors
        p_ = np.empty((depth, d), np.float32)  # the centre's path's tree vectors
        g_flat = np.empty(span * depth, np.float32)
        rows = np.empty(span, np.int64)
        state = _mix(np.uint64(seed) ^ (np.uint64(b) * _GOLDEN))
        words = 0
        first = b * block
        for w in range(first, min(first + block, n_walks)):
            walk = walks[w]
            end = length
            for q in range(length):
                if walk[q] < 0:
                    end = q
                    break
            progress = (done_before + first * length + words) / total
            a = np.float32(max(min_alpha, alpha - (alpha - min_alpha) * progress))
            for pos in range(end):
                centre = walk[pos]
                state = _mix(state)
                reduced = window - np.int64(state % np.uint64(window))
                k = 0
                for q in range(max(0, pos - reduced), min(end, pos + reduced + 1)):
                    if q != pos:
                        rows[k] = walk[q]
                        x[k] = syn0[walk[q]]
                        k += 1
                if k == 0:
                    continue
                lo, hi = offsets[centre], offsets[centre + 1]
                n_nodes = hi - lo
                for i in range(n_nodes):
                    p_[i] = syn1[points[lo + i]]
                xs, ps, gs = x[:k], p_[:n_nodes], g_flat[:k * n_nodes].reshape((k, n_nodes))
                scores = np.dot(xs, ps.T)
                for j in range(k):
                    for i in range(n_nodes):
                        f = scores[j, i]
                        if f <= -MAX_EXP or f >= MAX_EXP:
                            gs[j, i] = 0.0
                        else:
                            gs[j, i] = (np.float32(1.0) - codes[lo + i]
                                        - sigmoid[int((f + MAX_EXP) * (EXP_TABLE_SIZE / MAX_EXP / 2))]) * a
                dx = np.dot(gs, ps)
                dp = np.dot(gs.T, xs)
                for i in range(n_nodes):
                    syn1[points[lo + i]] += dp[i]
                for j in range(k):
                    syn0[rows[j]] += dx[j]
            words += end
        trained[b] = words
    return trained.sum()


@numba.njit(parallel=True, cache=True)
def _renumbered(walks, rank):
    """``walks`` with each vertex replaced by its rank (-1 kept)."""
    out = np.empty(walks.shape, np.int32)
    for w in numba.prange(walks.shape[0]):
        for p in range(walks.shape[1]):
            v = walks[w, p]
            out[w, p] = rank[v] if v >= 0 else -1
    return out


@dataclass
class Model:
    """The trained matrices, rows in the order of the vertices' counts (most frequent first, as gensim orders its
    vocabulary: the rows most updated sit together in memory); ``vertex_vectors()`` gives them in vertex order."""

    syn0: np.ndarray  # input vectors, by rank
    syn1: np.ndarray  # the tree's vectors
    order: np.ndarray  # order[r]: the vertex of rank r
    words: int = 0
    seconds: float = 0.0

    def vertex_vectors(self) -> np.ndarray:
        """``vectors[v]``: vertex ``v``'s input vector (what gensim's ``wv`` holds)."""
        out = np.empty_like(self.syn0)
        out[self.order] = self.syn0
        return out


def train(passes: Iterable[np.ndarray], counts: np.ndarray, dimensions: int = defaults.DIMENSIONS,
          window: int = defaults.WINDOW, alpha: float = defaults.ALPHA, min_alpha: float = defaults.MIN_ALPHA,
          epochs: int = defaults.EPOCHS, seed: int = defaults.SEED, threads: int = 0,
          progress: Callable[[str], None] | None = None, model: Model | None = None, done_before: int = 0) -> Model:
    """Skip-gram with hierarchical softmax over ``passes`` (int32 walk matrices, each read once per epoch; memory
    mapped ones are fine), for vertices ``0 .. len(counts) - 1`` with these counts (the tree's: gensim's, built over
    the vertices sorted by count as gensim sorts its vocabulary).

    ``model`` and ``done_before`` resume a training (the matrices so far, the words already trained on)."""
    passes = list(passes)
    counts = np.asarray(counts, np.int64)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(len(counts), np.int32)
    rank[order] = np.arange(len(counts), dtype=np.int32)
    tree = Tree.of(counts[order])
    total = max(1, int(counts.sum()) * epochs)
    if model is None:
        model = Model(_init_vectors(len(counts), dimensions, seed)[order], np.zeros((len(counts) - 1, dimensions), np.float32), order)
    if threads:
        numba.set_num_threads(threads)
    t = time.perf_counter()
    done = done_before
    with threadpool_limits(1, "blas"):  # each window's products are small: one BLAS thread in each of numba's
        for epoch in range(epochs):
            for i, walks in enumerate(passes):
                done += int(_train_walks(_renumbered(np.asarray(walks, np.int32), rank), model.syn0, model.syn1, tree.codes,
                                         tree.points, tree.offsets, window, alpha, min_alpha, done, total,
                                         seed + 7919 * (epoch * len(passes) + i), BLOCK_WALKS, SIGMOID, tree.depth))
                if progress:
                    rate = (done - done_before) / max(time.perf_counter() - t, 1e-9)
                    progress(f"skip-gram: epoch {epoch + 1}, pass {i + 1}/{len(passes)}: {done:,} words, "
                             f"{rate / 1e3:,.0f}k words/s")
    model.words, model.seconds = done, time.perf_counter() - t
    return model
