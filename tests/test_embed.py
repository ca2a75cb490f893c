import numpy as np
import pytest
from helpers import path_graph

from pipeline.embedding.skipgram import SkipGramParams, train_skipgram
from pipeline.network.walks import write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("walks") / "corpus.txt"
    stats = write_corpus(path_graph(30), path, walk_length=20, walks_per_vertex=5, seed=1)
    return path, stats.vertex_counts


def test_skipgram_configuration_is_deepwalks(corpus):
    path, counts = corpus
    model, vectors, stats = train_skipgram(path, counts, SkipGramParams(dimensions=8, window=6, workers=1))
    assert (model.sg, model.hs, model.negative, model.window, model.vector_size) == (1, 1, 0, 6, 8)
    assert (model.epochs, model.min_count) == (1, 0)
    # no down-sampling: every keep threshold is the largest uint32, which no random draw exceeds
    assert all(model.wv.get_vecattr(str(v), "sample_int") == 2**32 - 1 for v in range(30))
    assert (model.alpha, model.min_alpha) == (0.025, 0.0001)
    assert stats["words"] == counts.sum() == 30 * 5 * 20
    assert vectors.shape == (30, 8)
    for v in (0, 7, 29):  # rows are in vertex order
        assert np.array_equal(vectors[v], model.wv[str(v)])


def test_one_worker_is_bit_for_bit_reproducible(corpus):
    path, counts = corpus
    params = SkipGramParams(dimensions=4, workers=1, seed=9)
    _, a, _ = train_skipgram(path, counts, params)
    _, b, _ = train_skipgram(path, counts, params)
    _, c, _ = train_skipgram(path, counts, SkipGramParams(dimensions=4, workers=1, seed=10))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_neighbours_on_a_path_end_up_close(corpus):
    path, counts = corpus
    _, vectors, _ = train_skipgram(path, counts, SkipGramParams(dimensions=8, workers=1, epochs=5))
    near = np.linalg.norm(vectors[0] - vectors[1])
    far = np.linalg.norm(vectors[0] - vectors[29])
    assert near < far


def test_vertices_missing_from_the_walks_are_refused(corpus):
    path, counts = corpus
    with pytest.raises(ValueError, match="never occur"):
        train_skipgram(path, np.append(counts, 0), SkipGramParams(dimensions=4, workers=1))


def test_the_fast_huffman_tree_trains_the_vectors_gensim_trains(corpus, monkeypatch):
    """With gensim's own tree builder swapped back in, one worker gives the very same vectors."""
    from gensim.models import Word2Vec

    from pipeline.embedding import skipgram

    path, counts = corpus
    params = SkipGramParams(dimensions=4, workers=1, seed=3)
    model, ours, _ = train_skipgram(path, counts, params)
    assert type(model).create_binary_tree is not Word2Vec.create_binary_tree
    monkeypatch.setattr(skipgram._Word2Vec, "create_binary_tree", Word2Vec.create_binary_tree)
    _, gensims, _ = train_skipgram(path, counts, params)
    assert np.array_equal(ours, gensims)
