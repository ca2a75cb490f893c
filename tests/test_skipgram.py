"""The numba skip-gram (pipeline.embedding.skipgram_numba): one walk's updates worked out by hand, one thread reproducible, and a
planted-community graph recovered as well as gensim recovers it."""

import numba
import numpy as np
import polars as pl
import pytest
from scipy import sparse

from pipeline.embedding import skipgram_numba
from pipeline.network.graph import Graph
from pipeline.network.walks import generate_walks


def test_one_walk_updates_as_the_skip_gram_formula_says():
    counts = np.array([1, 1])
    tree = skipgram_numba.Tree.of(counts)  # two leaves under one inner node: vertex v's code is tree.codes[v]
    syn0 = np.array([[0.1, -0.2, 0.3], [0.05, 0.1, -0.1]], np.float32)
    syn1 = np.zeros((1, 3), np.float32)
    want0, want1, alpha = syn0.astype(np.float64), syn1.astype(np.float64), 0.025
    sigmoid = lambda f: skipgram_numba.SIGMOID[int((f + 6) * (1000 / 6 / 2))]  # gensim's table  # noqa: E731
    for centre, context in ((0, 1), (1, 0)):  # window 1: each vertex is the other's only context
        g = (1 - tree.codes[centre] - sigmoid(want0[context] @ want1[0])) * alpha
        dx = g * want1[0]
        want1[0] += g * want0[context]
        want0[context] += dx
    words = skipgram_numba._train_walks(np.array([[0, 1]], np.int32), syn0, syn1, tree.codes, tree.points, tree.offsets,
                                  1, alpha, 0.0001, 0, 2, 0, 0, 256, skipgram_numba.SIGMOID, tree.depth)
    assert words == 2
    np.testing.assert_allclose(syn0, want0, atol=1e-7)
    np.testing.assert_allclose(syn1, want1, atol=1e-7)


def gensim_order(walk, syn0, syn1, tree, window, alpha, seed):
    """gensim's skip-gram with hierarchical softmax written plainly (float64): for each centre, each context in turn
    walks the centre's path, each node moved before the next context meets it (word2vec_inner.pyx's order). The
    reduced windows are drawn as the kernel draws them (block 0's stream of ``seed``)."""
    x, p = syn0.astype(np.float64), syn1.astype(np.float64)
    state = skipgram_numba._mix(np.uint64(seed) ^ (np.uint64(0) * skipgram_numba._GOLDEN))
    for pos, centre in enumerate(walk):
        state = skipgram_numba._mix(np.uint64(state))  # (numba returns a Python int: kept unsigned for the next draw)
        reduced = window - int(state % np.uint64(window))
        lo, hi = tree.offsets[centre], tree.offsets[centre + 1]
        for q in range(max(0, pos - reduced), min(len(walk), pos + reduced + 1)):
            if q == pos:
                continue
            r, work = walk[q], np.zeros(x.shape[1])
            for code, node in zip(tree.codes[lo:hi], tree.points[lo:hi]):
                f = x[r] @ p[node]
                if -6 < f < 6:
                    g = (1 - code - skipgram_numba.SIGMOID[int((f + 6) * (1000 / 6 / 2))]) * alpha
                    work += g * p[node]
                    p[node] += g * x[r]
            x[r] += work
    return x, p


def test_a_window_of_contexts_moves_the_path_as_gensim_does_one_context_after_another():
    rng = np.random.default_rng(4)
    counts = np.array([9, 7, 5, 4, 3, 2, 2, 1])  # a tree three and four nodes deep
    tree = skipgram_numba.Tree.of(counts)
    syn0 = rng.uniform(-0.5, 0.5, (8, 6)).astype(np.float32)
    syn1 = rng.uniform(-0.5, 0.5, (7, 6)).astype(np.float32)  # non-zero: every context's update matters to the next
    walk = np.array([[3, 0, 6, 1, 7, 2, 5, 4]], np.int32)  # no vertex twice: gensim's order is then exact
    start1 = syn1.copy()
    want0, want1 = gensim_order(walk[0], syn0, syn1, tree, window=3, alpha=0.2, seed=11)
    skipgram_numba._train_walks(walk, syn0, syn1, tree.codes, tree.points, tree.offsets, 3, 0.2, 0.2, 0, 8, 11, 0, 256,
                          skipgram_numba.SIGMOID, tree.depth)
    assert np.abs(want1 - start1).max() > 0.1  # the paths moved (and every context sees the earlier ones' moves)
    np.testing.assert_allclose(syn0, want0, atol=2e-6)
    np.testing.assert_allclose(syn1, want1, atol=2e-6)


def planted(communities: int = 8, size: int = 60, seed: int = 0) -> tuple[Graph, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = communities * size
    label = np.repeat(np.arange(communities), size)
    a = rng.random((n, n)) < np.where(label[:, None] == label[None, :], 0.1, 0.002)
    a = np.triu(a, 1)
    m = sparse.csr_matrix(a | a.T)
    vertices = pl.DataFrame({"vertex": np.arange(n), "kind": ["song"] * n, "key": np.arange(n).astype(str)})
    return Graph(m.indptr.astype(np.int64), m.indices.astype(np.int32), vertices), label


def purity(vectors: np.ndarray, label: np.ndarray, k: int = 10) -> float:
    """The share of each vertex's k nearest (cosine) that are of its community."""
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    return float((label[np.argsort(-s, axis=1)[:, :k]] == label[:, None]).mean())


@pytest.fixture(scope="module")
def walks():
    graph, label = planted()
    walks = np.concatenate([w for _, w in generate_walks(graph, 20, 5, seed=1)])
    return walks, np.bincount(walks[walks >= 0], minlength=graph.n_vertices), label


def test_one_thread_gives_the_same_vectors_for_a_seed(walks):
    w, counts, _ = walks
    a = skipgram_numba.train([w], counts, dimensions=16, threads=1, seed=5).vertex_vectors()
    b = skipgram_numba.train([w], counts, dimensions=16, threads=1, seed=5).vertex_vectors()
    c = skipgram_numba.train([w], counts, dimensions=16, threads=1, seed=6).vertex_vectors()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_vectors_do_not_depend_on_how_the_walks_are_cut_into_blocks(walks):
    w, counts, _ = walks
    trainer = skipgram_numba.Trainer(counts, dimensions=8, threads=1, seed=2)
    whole, cut = trainer.fresh(), trainer.fresh()
    words = int((w >= 0).sum())
    trainer.train_unit(whole, [w], words, 0, 0.025, 0.02)
    wider = np.pad(w[301:1000], ((0, 0), (0, 3)), constant_values=-1)
    trainer.train_unit(cut, [w[:300], w[300:301], wider, w[1000:]], words, 0, 0.025, 0.02)
    assert whole.words == cut.words == words
    assert np.array_equal(whole.syn0, cut.syn0) and np.array_equal(whole.syn1, cut.syn1)


def test_a_long_pass_says_how_far_it_is(walks):
    w, counts, _ = walks
    trainer, lines = skipgram_numba.Trainer(counts, dimensions=4, threads=1), []
    words = int((w >= 0).sum())
    trainer.train_unit(trainer.fresh(), [w[:256], w[256:512], w[512:]], words, 0, 0.025, 0.02, progress=lines.append, every=0)
    assert len(lines) >= 3 and lines[-1].startswith("skip-gram (numba): 100% of this pass")  # (a line a block trained)
    assert lines[0].startswith(f"skip-gram (numba): {100 * int((w[:256] >= 0).sum()) / words:.0f}% of this pass")


def test_more_threads_than_cores_train_on_every_core(walks):
    w, counts, _ = walks
    many = skipgram_numba.train([w[:200]], counts, dimensions=4, threads=numba.config.NUMBA_NUM_THREADS + 3)
    assert many.words == int((w[:200] >= 0).sum()) and np.isfinite(many.syn0).all()


def test_both_trainers_recover_planted_communities_equally_well(walks, tmp_path):
    from gensim.models import Word2Vec

    from pipeline.embedding.skipgram import SkipGramParams
    from pipeline.network.walks import walk_text

    w, counts, label = walks
    ours = purity(skipgram_numba.train([w], counts, dimensions=32, seed=3).vertex_vectors(), label)
    (tmp_path / "walks.txt").write_bytes(walk_text(w))
    model = Word2Vec(**SkipGramParams(dimensions=32, seed=3).gensim_kwargs())
    model.build_vocab_from_freq({str(v): int(c) for v, c in enumerate(counts)})
    model.train(corpus_file=str(tmp_path / "walks.txt"), total_words=int(counts.sum()), epochs=1)
    theirs = purity(np.stack([model.wv[str(v)] for v in range(len(counts))]), label)
    chance = 1 / len(np.unique(label))
    assert ours > 0.8 > chance and abs(ours - theirs) < 0.05, (ours, theirs)
