"""Skip-gram with hierarchical softmax over int32 walks, trained by a numba kernel: DeepWalk's training as gensim
defines it (``word2vec_inner.pyx``, ``sg=1, hs=1, negative=0``), with each centre's Huffman path shared by its window.

gensim's rules: a reduced window ``window - b`` on each side (``b`` uniform in ``0 .. window - 1``); each context's
input vector learns the centre's code along the centre's path in the Huffman tree (``pipeline.embedding.huffman``, gensim's
node for node); a score at or beyond +-6 gives no update (``MAX_EXP``); the sigmoid read from gensim's 1,000-point
table; the rate falling linearly over all words; input vectors uniform in +-0.5/d, the tree's at zero; threads
sharing the matrices without locks, as gensim's workers do.

gensim walks the path once per context, moving each node before the next context meets it. Here the path is
gathered once per centre and the window scored against it in small matrix products (Ji et al. 2016's sharing,
applied to hierarchical softmax), keeping gensim's order exactly: context j's score at a node adds the moves of
contexts 0 .. j-1 through the contexts' Gram matrix, and its update the same moves through G G^T (checked against
gensim's order written plainly, ``tests/test_skipgram.py``; docs/performance.md has what each lever gave).

:class:`Trainer` is the face ``pipeline.embedding.trainers`` drives; :func:`train` trains in-memory walks. One thread
reproduces its vectors bit for bit (its draws come from a counter-based stream per block of walks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from pipeline import defaults
from pipeline.embedding.huffman import Tree
from pipeline.network.walks import _GOLDEN
from pipeline.network.walks import _splitmix64 as _mix  # the walks' counter-based stream, for the reduced windows

MAX_EXP = 6.0  # gensim's: a score beyond it gives no update
EXP_TABLE_SIZE = 1000  # gensim's sigmoid table: the score's sigmoid read at one of 1,000 points over +-MAX_EXP
_EXP = np.exp((np.arange(EXP_TABLE_SIZE) / EXP_TABLE_SIZE * 2 - 1) * MAX_EXP)
SIGMOID = (_EXP / (_EXP + 1)).astype(np.float32)
BLOCK_WALKS = 256  # walks a thread takes at a time (its draws come from one stream per block)


@numba.njit(parallel=True, cache=True)
def _init_vectors(order, d, seed):
    """Input vectors uniform in +-0.5/d, row ``r`` for vertex ``order[r]`` from that vertex's own stream (seed,
    vertex): written in place, with no second matrix."""
    n = len(order)
    out = np.empty((n, d), np.float32)
    for r in numba.prange(n):
        v = order[r]
        state = _mix(np.uint64(seed) * np.uint64(0x100000001B3) ^ np.uint64(v))
        for k in range(d):
            state = _mix(state)
            out[r, k] = ((state >> np.uint64(40)) * (1.0 / 16777216.0) - 0.5) / d
    return out


# Rows are moved by explicit loops: numba's row slices (``x[k] = syn0[r]``, ``syn0[r] += dx[j]``) cost a view and
# a ufunc call each, which took 45 % of the time (a row moved by a loop: 630k words/s against 350k, 200k vertices).
@numba.njit(inline="always")
def _copy_row(src, r, dst, i):
    for t in range(src.shape[1]):
        dst[i, t] = src[r, t]


@numba.njit(inline="always")
def _add_row(src, i, dst, r):
    for t in range(src.shape[1]):
        dst[r, t] += src[i, t]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _train_walks(walks, syn0, syn1, codes, points, offsets, window, alpha, min_alpha, done_before, total,
                 seed, first_block, block, sigmoid, depth):
    """One pass over ``walks`` (int32, one walk a row, -1 past a walk's end). The learning rate falls linearly from
    ``alpha`` to ``min_alpha`` over ``total`` words, ``done_before`` of them trained before these walks; block ``b``
    of ``block`` walks draws from stream ``first_block + b`` of ``seed``. Returns the words trained on.

    Per centre, with X the window's input vectors (k x d) and P its path's tree vectors (L x d): the scores
    F = X P^T, the gradients G = (1 - code - sigmoid(F)) * alpha (zero where |F| >= MAX_EXP), then X += G P and
    P += G^T X, each one small matrix product (BLAS), then written back to the rows they came from."""
    n_walks, length = walks.shape
    d = syn0.shape[1]
    n_blocks = (n_walks + block - 1) // block
    span = 2 * window
    trained = np.zeros(n_blocks, np.int64)
    before = np.zeros(n_blocks, np.int64)  # words in the blocks before each (for its learning rate)
    for b in numba.prange(n_blocks):
        for w in range(b * block, min((b + 1) * block, n_walks)):
            for q in range(length):
                if walks[w, q] < 0:
                    break
                before[b] += 1
    before = np.cumsum(before) - before
    for b in numba.prange(n_blocks):
        x = np.empty((span, d), np.float32)  # the window's input vectors
        p_ = np.empty((depth, d), np.float32)  # the centre's path's tree vectors
        g_flat = np.empty(span * depth, np.float32)
        rows = np.empty(span, np.int64)
        gram = np.empty((span, span), np.float32)
        f_ = np.empty(depth, np.float32)
        state = _mix(np.uint64(seed) ^ (np.uint64(first_block + b) * _GOLDEN))
        words = 0
        first = b * block
        for w in range(first, min(first + block, n_walks)):
            walk = walks[w]
            end = length
            for q in range(length):
                if walk[q] < 0:
                    end = q
                    break
            progress = (done_before + before[b] + words) / total
            a = np.float32(max(min_alpha, alpha - (alpha - min_alpha) * progress))
            for pos in range(end):
                centre = walk[pos]
                state = _mix(state)
                reduced = window - np.int64(state % np.uint64(window))
                k = 0
                for q in range(max(0, pos - reduced), min(end, pos + reduced + 1)):
                    if q != pos:
                        rows[k] = walk[q]
                        _copy_row(syn0, walk[q], x, k)
                        k += 1
                if k == 0:
                    continue
                lo, hi = offsets[centre], offsets[centre + 1]
                n_nodes = hi - lo
                for i in range(n_nodes):
                    _copy_row(syn1, points[lo + i], p_, i)
                xs, ps, gs = x[:k], p_[:n_nodes], g_flat[:k * n_nodes].reshape((k, n_nodes))
                scores = np.dot(xs, ps.T)  # context j's score with node i at [j, i]
                for j in range(k):  # the contexts' Gram matrix, lower triangle
                    for e in range(j):
                        c = np.float32(0.0)
                        for t in range(d):
                            c += xs[j, t] * xs[e, t]
                        gram[j, e] = c
                for j in range(k):  # context j meets the path as contexts 0 .. j-1 moved it (gensim's order)
                    for i in range(n_nodes):
                        f_[i] = scores[j, i]
                    for e in range(j):
                        c = gram[j, e]
                        for i in range(n_nodes):
                            f_[i] += c * gs[e, i]
                    for i in range(n_nodes):
                        f = f_[i]
                        if f <= -MAX_EXP or f >= MAX_EXP:
                            gs[j, i] = 0.0
                        else:
                            gs[j, i] = (np.float32(1.0) - codes[lo + i]
                                        - sigmoid[int((f + MAX_EXP) * (EXP_TABLE_SIZE / MAX_EXP / 2))]) * a
                dx = np.dot(gs, ps)
                for j in range(k):  # context j's update also sees the path as contexts 0 .. j-1 moved it
                    for e in range(j):
                        c = np.float32(0.0)
                        for i in range(n_nodes):
                            c += gs[j, i] * gs[e, i]
                        if c != 0.0:
                            for t in range(d):
                                dx[j, t] += c * xs[e, t]
                dp = np.dot(gs.T, xs)
                for i in range(n_nodes):
                    _add_row(dp, i, syn1, points[lo + i])
                for j in range(k):
                    _add_row(dx, j, syn0, rows[j])
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
    syn1: np.ndarray | None  # the tree's vectors (None once a training is finished: pipeline.embedding.trainers)
    order: np.ndarray  # order[r]: the vertex of rank r
    words: int = 0
    seconds: float = 0.0

    def vertex_vectors(self) -> np.ndarray:
        """``vectors[v]``: vertex ``v``'s input vector (what gensim's ``wv`` holds). (A finished training drops
        ``syn1`` first: the copy then takes its place, and the peak stays at two matrices.)"""
        out = np.empty_like(self.syn0)
        out[self.order] = self.syn0
        return out


class Trainer:
    """The kernel's face for one vocabulary: a fresh model, one unit of training (a walk pass, with its learning
    rates at its first and last word) and the model saved to / loaded from a folder (``syn0.npy``, ``syn1.npy``)."""

    name = "numba"

    def __init__(self, counts: np.ndarray, dimensions: int = defaults.DIMENSIONS, window: int = defaults.WINDOW,
                 seed: int = defaults.SEED, threads: int = 0) -> None:
        self.counts = np.asarray(counts, np.int64)
        self.order = np.argsort(-self.counts, kind="stable")
        self.rank = np.empty(len(self.counts), np.int32)
        self.rank[self.order] = np.arange(len(self.counts), dtype=np.int32)
        self.tree = Tree.of(self.counts[self.order])
        self.dimensions, self.window, self.seed, self.threads = dimensions, window, seed, threads

    def fresh(self) -> Model:
        n = len(self.counts)
        return Model(_init_vectors(self.order, self.dimensions, self.seed), np.zeros((n - 1, self.dimensions), np.float32),
                     self.order)

    def train_unit(self, model: Model, blocks: Iterable[np.ndarray], words: int, unit: int, alpha: float,
                   end_alpha: float, progress: Callable[[str], None] | None = None, every: float = 30.0) -> int:
        """Train on ``blocks`` (int32 walk matrices in corpus order, ``words`` words in all), unit ``unit`` of the
        training, its rate falling from ``alpha`` to ``end_alpha``; returns the words trained on. The draws depend on
        the unit and each walk's place in it, not on how the walks were cut into blocks. ``progress`` hears how far
        the unit is about every ``every`` seconds."""
        if self.threads:  # (numba's pool has one thread a core: more workers than cores run as many as there are)
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        done = walks_before = 0
        tree = self.tree
        t0 = last = time.perf_counter()
        with threadpool_limits(1, "blas"):  # each window's products are small: one BLAS thread in each of numba's
            for walks in _whole_blocks(blocks, BLOCK_WALKS):
                done += int(_train_walks(_renumbered(walks, self.rank), model.syn0, model.syn1, tree.codes, tree.points,
                                         tree.offsets, self.window, alpha, end_alpha, done, max(words, 1),
                                         self.seed + 7919 * unit, walks_before // BLOCK_WALKS, BLOCK_WALKS, SIGMOID,
                                         tree.depth))
                walks_before += len(walks)
                now = time.perf_counter()
                if progress and now - last >= every:
                    rate = done / (now - t0)
                    progress(f"skip-gram (numba): {100 * done / max(words, 1):.0f}% of this pass, {rate / 1e3:,.0f}k words/s, "
                             f"ETA {(words - done) / max(rate, 1e-9):.0f}s")
                    last = now
        model.words += done
        return done

    @staticmethod
    def save(model: Model, folder: Path) -> None:
        np.save(folder / "syn0.npy", model.syn0)
        np.save(folder / "syn1.npy", model.syn1)

    def load(self, folder: Path) -> Model:
        return Model(np.load(folder / "syn0.npy"), np.load(folder / "syn1.npy"), self.order)


def _whole_blocks(blocks: Iterable[np.ndarray], block: int):
    """The walks of ``blocks`` again, cut so that every piece but the last holds a multiple of ``block`` walks."""
    carry = None
    for walks in blocks:
        walks = np.asarray(walks, np.int32)
        if carry is not None:
            width = max(carry.shape[1], walks.shape[1])
            walks = np.concatenate([_widened(carry, width), _widened(walks, width)])
        cut = len(walks) - len(walks) % block
        if cut:
            yield walks[:cut]
        carry = walks[cut:] if cut < len(walks) else None
    if carry is not None:
        yield carry


def _widened(walks: np.ndarray, width: int) -> np.ndarray:
    return walks if walks.shape[1] == width else np.pad(walks, ((0, 0), (0, width - walks.shape[1])), constant_values=-1)


def train(passes: Iterable[np.ndarray], counts: np.ndarray, dimensions: int = defaults.DIMENSIONS,
          window: int = defaults.WINDOW, alpha: float = defaults.ALPHA, min_alpha: float = defaults.MIN_ALPHA,
          epochs: int = defaults.EPOCHS, seed: int = defaults.SEED, threads: int = 0,
          progress: Callable[[str], None] | None = None) -> Model:
    """Skip-gram with hierarchical softmax over ``passes`` (int32 walk matrices, each one unit, read once per epoch;
    memory-mapped ones are fine), for vertices ``0 .. len(counts) - 1`` with these counts (the tree's: gensim's,
    built over the vertices sorted by count as gensim sorts its vocabulary)."""
    passes = list(passes)
    trainer = Trainer(counts, dimensions, window, seed, threads)
    model = trainer.fresh()
    sizes = [int((np.asarray(w) >= 0).sum()) for w in passes] * epochs
    total = max(1, sum(sizes))
    t = time.perf_counter()
    for unit, words in enumerate(sizes):
        before = sum(sizes[:unit])
        a0 = alpha - (alpha - min_alpha) * before / total
        a1 = alpha - (alpha - min_alpha) * (before + words) / total
        trainer.train_unit(model, [passes[unit % len(passes)]], words, unit, a0, a1)
        if progress:
            rate = model.words / max(time.perf_counter() - t, 1e-9)
            progress(f"skip-gram: unit {unit + 1}/{len(sizes)}: {model.words:,} words, {rate / 1e3:,.0f}k words/s")
    model.seconds = time.perf_counter() - t
    return model
