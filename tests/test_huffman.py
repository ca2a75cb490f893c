"""The numba Huffman tree is gensim's, word for word: the same codes and points, ties included."""

import numpy as np
import pytest
from gensim.models import Word2Vec
from gensim.models.word2vec import _assign_binary_codes

from pipeline.embedding.huffman import assign_binary_codes


def vocab(counts) -> Word2Vec:
    model = Word2Vec(vector_size=4, min_count=0, hs=1, negative=0, sample=0)
    model.build_vocab_from_freq({f"w{i}": int(c) for i, c in enumerate(counts)})
    return model


@pytest.mark.parametrize("counts", [
    [1, 1], [5, 1, 1], [3, 3, 3, 3], [1] * 17, [2, 2, 1, 1, 1, 7, 7, 3],
    np.random.default_rng(0).integers(1, 4, 300),  # many ties
    np.random.default_rng(1).zipf(1.6, 5000).clip(1, 10**6),
])
def test_codes_and_points_are_gensims(counts):
    wv = vocab(counts).wv
    _assign_binary_codes(wv)
    want_codes, want_points = list(wv.expandos["code"]), list(wv.expandos["point"])
    wv.expandos["code"], wv.expandos["point"] = np.zeros(1), np.zeros(1)  # gone, to be set again
    assign_binary_codes(wv)
    assert len(wv.expandos["code"]) == len(want_codes)
    for got, want in zip(wv.expandos["code"], want_codes):
        assert got.dtype == want.dtype and got.tolist() == want.tolist()
    for got, want in zip(wv.expandos["point"], want_points):
        assert got.dtype == want.dtype and got.tolist() == want.tolist()


def test_frequent_words_get_shorter_codes():
    wv = vocab([100, 1, 1, 1]).wv
    assign_binary_codes(wv)
    lengths = [len(c) for c in wv.expandos["code"]]
    assert lengths[wv.key_to_index["w0"]] == 1 and max(lengths) == 3
