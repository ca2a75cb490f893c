"""The Huffman tree of hierarchical softmax, built by a numba kernel: gensim's tree, node for node, in a second.

gensim builds the tree in Python with ``heapq`` (``word2vec._assign_binary_codes``): 31 s for 1M
vertices, about two minutes at the paper's 3.1M, in every training and every resumed attempt. The
kernel here replays the same algorithm: CPython's ``heapq`` (heapify, then ``n - 1`` times pop two and
push their sum as node ``n + i``) comparing counts only, as gensim's ``Heapitem`` does, so ties fall
exactly as they fall there; then each word's code (0 left, 1 right, from the root) and points (the
inner nodes on its path, numbered from 0). ``tests/test_huffman.py`` holds it to gensim's own function.

The Python faces are :func:`assign_binary_codes` (gensim's model) and :class:`Tree` (flat arrays, for
``pipeline.embedding.skipgram_numba``); the kernels are :func:`_tree` and :func:`_codes`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _sift_down(count, node, start, pos):
    """heapq._siftdown: move the item at ``pos`` up while it is smaller than its parent."""
    c, v = count[pos], node[pos]
    while pos > start:
        parent = (pos - 1) >> 1
        if c < count[parent]:
            count[pos], node[pos] = count[parent], node[parent]
            pos = parent
            continue
        break
    count[pos], node[pos] = c, v


@numba.njit(cache=True, inline="always")
def _sift_up(count, node, end, pos):
    """heapq._siftup: move the smaller child up until a leaf, put the item there, then ``_sift_down`` it."""
    start = pos
    c, v = count[pos], node[pos]
    child = 2 * pos + 1
    while child < end:
        right = child + 1
        if right < end and not count[child] < count[right]:
            child = right
        count[pos], node[pos] = count[child], node[child]
        pos = child
        child = 2 * pos + 1
    count[pos], node[pos] = c, v
    _sift_down(count, node, start, pos)


@numba.njit(cache=True)
def _tree(counts):
    """(left, right) children of the inner nodes ``n .. 2n-2`` (indexed from 0), merged as gensim's heap merges them."""
    n = len(counts)
    count = counts.astype(np.int64).copy()
    node = np.arange(n, dtype=np.int64)
    for i in range(n // 2 - 1, -1, -1):  # heapify
        _sift_up(count, node, n, i)
    left = np.empty(n - 1, np.int64)
    right = np.empty(n - 1, np.int64)
    size = n
    popped_count = np.empty(2, np.int64)
    popped_node = np.empty(2, np.int64)
    for i in range(n - 1):
        for k in range(2):  # heappop: the last item to the root, sifted
            popped_count[k], popped_node[k] = count[0], node[0]
            size -= 1
            if size > 0:
                count[0], node[0] = count[size], node[size]
                _sift_up(count, node, size, 0)
        left[i], right[i] = popped_node[0], popped_node[1]
        count[size], node[size] = popped_count[0] + popped_count[1], n + i  # heappush
        _sift_down(count, node, 0, size)
        size += 1
    return left, right


@numba.njit(cache=True)
def _codes(n, left, right):
    """Every word's code and points, flat, with offsets: word k's are ``[offsets[k]:offsets[k + 1]]``."""
    total = 2 * n - 1
    parent = np.full(total, -1, np.int64)
    bit = np.zeros(total, np.uint8)
    depth = np.zeros(total, np.int64)
    for i in range(n - 2, -1, -1):  # from the root down: a parent's number is above its children's
        v = n + i
        parent[left[i]], bit[left[i]], depth[left[i]] = v, 0, depth[v] + 1
        parent[right[i]], bit[right[i]], depth[right[i]] = v, 1, depth[v] + 1
    offsets = np.zeros(n + 1, np.int64)
    for k in range(n):
        offsets[k + 1] = offsets[k] + depth[k]
    codes = np.empty(offsets[n], np.uint8)
    points = np.empty(offsets[n], np.uint32)
    for k in range(n):
        at, v = offsets[k + 1], k
        while parent[v] >= 0:  # from the word up to the root, filled from the end
            at -= 1
            codes[at], points[at] = bit[v], parent[v] - n
            v = parent[v]
    return codes, points, offsets


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


def assign_binary_codes(wv) -> None:
    """Set each word's ``code`` and ``point`` in gensim's KeyedVectors ``wv``, as gensim's ``_assign_binary_codes``
    sets them, from the words' ``count``."""
    from gensim.models.word2vec import _assign_binary_codes

    n = len(wv.index_to_key)
    if n < 2:  # gensim's own (a tree of one word has no inner node)
        _assign_binary_codes(wv)
        return
    left, right = _tree(wv.expandos["count"][:n])
    codes, points, offsets = _codes(n, left, right)
    code_of, point_of = np.empty(n, dtype=object), np.empty(n, dtype=object)
    for k, (code, point) in enumerate(zip(np.split(codes, offsets[1:-1]), np.split(points, offsets[1:-1]))):
        code_of[k], point_of[k] = code, point  # one by one: equal lengths must not broadcast into a matrix
    wv.expandos["code"], wv.expandos["point"] = code_of, point_of
