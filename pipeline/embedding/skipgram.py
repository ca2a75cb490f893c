"""Skip-gram with hierarchical softmax over a walk corpus (DeepWalk, Section 3.2), via gensim.

Every hyper-parameter is set explicitly: gensim's defaults (negative=5, sample=1e-3, epochs=5,
min_count=5) would silently change the method. The vocabulary comes from the vertex counts the
walker already made, so the corpus is read once, by training, in gensim's GIL-free
``corpus_file`` mode.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from gensim.models import Word2Vec

from pipeline import defaults
from pipeline.embedding.huffman import assign_binary_codes

# DeepWalk does not down-sample frequent vertices. gensim 4.4 only seeds its per-call random stream
# (which draws the reduced window sizes) when negative or sample is non-zero: with hs=1,
# negative=0, sample=0 it reads uninitialised memory, and results differ from call to call. A
# sample threshold of 0.99 of the corpus keeps every word's keep-probability at 1 (gensim keeps a
# word of count v with probability min(1, (sqrt(v/t) + 1) t/v), which is 1 for v <= 2.6 t), so
# nothing is dropped and the stream is seeded from the model's seed.
NO_DOWNSAMPLING = 0.99



@dataclass(frozen=True)
class SkipGramParams:
    dimensions: int = defaults.DIMENSIONS
    window: int = defaults.WINDOW
    epochs: int = defaults.EPOCHS
    alpha: float = defaults.ALPHA
    min_alpha: float = defaults.MIN_ALPHA
    workers: int = 0  # 0: all cores. Bit-identical vectors need workers=1.
    seed: int = defaults.SEED

    def gensim_kwargs(self) -> dict:
        """The full Word2Vec configuration: DeepWalk's skip-gram with hierarchical softmax."""
        return {
            "vector_size": self.dimensions,
            "window": self.window,
            "epochs": self.epochs,
            "alpha": self.alpha,
            "min_alpha": self.min_alpha,
            "workers": self.workers or os.cpu_count() or 1,
            "seed": self.seed,
            "sg": 1,
            "hs": 1,
            "negative": 0,
            "sample": NO_DOWNSAMPLING,
            "min_count": 0,
            "max_vocab_size": None,
            "hashfxn": stable_hash,
        }

    def as_record(self) -> dict:
        record = asdict(self)
        record.update({k: v for k, v in self.gensim_kwargs().items() if k != "hashfxn"})
        return record


def stable_hash(text: str) -> int:
    """Process-independent replacement for ``hash`` in gensim's vector seeding."""
    return zlib.crc32(text.encode())


GENSIM = "gensim: "  # how a forwarded line starts: a progress line, shown at most every so often on a concise console


class _ProgressHandler(logging.Handler):
    """Forwards gensim's periodic training progress lines to a callback, as ``gensim: <its line>``."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "PROGRESS" in message or "training on" in message:
            self.progress(GENSIM + message)


def check_counts(vertex_counts: np.ndarray) -> None:
    if vertex_counts.min(initial=1) <= 0:
        missing = np.flatnonzero(vertex_counts <= 0)
        raise ValueError(f"{len(missing)} vertices never occur in the walks (first: {missing[:5].tolist()})")


class _Word2Vec(Word2Vec):
    """gensim's Word2Vec with the Huffman tree built by ``pipeline.embedding.huffman`` (the same tree, in a second instead of
    minutes at the paper's scale); everything else, training included, is gensim's."""

    def create_binary_tree(self):
        assign_binary_codes(self.wv)


def new_model(params: SkipGramParams, vertex_counts: np.ndarray) -> Word2Vec:
    """An untrained model whose vocabulary is the walker's vertex counts (no corpus scan)."""
    model = _Word2Vec(**params.gensim_kwargs())
    model.build_vocab_from_freq({str(v): int(c) for v, c in enumerate(vertex_counts)})
    return model


@contextmanager
def forwarded_progress(progress: Callable[[str], None] | None):
    """While training, send gensim's progress lines to ``progress``."""
    if progress is None:
        yield
        return
    gensim_logger = logging.getLogger("gensim.models.word2vec")
    handler, old_level = _ProgressHandler(progress), gensim_logger.level
    gensim_logger.addHandler(handler)
    gensim_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        gensim_logger.removeHandler(handler)
        gensim_logger.setLevel(old_level)


def vertex_order_vectors(model: Word2Vec, n_vertices: int) -> np.ndarray:
    order = np.array([model.wv.key_to_index[str(v)] for v in range(n_vertices)])
    return np.ascontiguousarray(model.wv.vectors[order], dtype=np.float32)


def train_file(model: Word2Vec, corpus_file: Path | str, words: int, epochs: int, start_alpha: float, end_alpha: float) -> float:
    """One call of gensim's training over a corpus file (the GIL-free ``corpus_file`` mode); returns its seconds."""
    t0 = time.perf_counter()
    model.train(corpus_file=str(corpus_file), total_words=words, epochs=epochs, start_alpha=start_alpha, end_alpha=end_alpha,
                report_delay=30.0)
    return time.perf_counter() - t0


def train_skipgram(
    corpus_path: Path | str,
    vertex_counts: np.ndarray,
    params: SkipGramParams,
    progress: Callable[[str], None] | None = None,
) -> tuple[Word2Vec, np.ndarray, dict]:
    """Train on one corpus file in one call, no checkpoints (``pipeline.embedding.trainers.train_units`` trains shard by shard);
    return the model, the vectors in vertex order and training stats."""
    check_counts(vertex_counts)
    model = new_model(params, vertex_counts)
    total_words = int(vertex_counts.sum())
    with forwarded_progress(progress):
        seconds = train_file(model, corpus_path, total_words, params.epochs, params.alpha, params.min_alpha)
    stats = {"seconds": seconds, "words": total_words * params.epochs,
             "words_per_second": total_words * params.epochs / max(seconds, 1e-9)}
    return model, vertex_order_vectors(model, len(vertex_counts)), stats


@dataclass
class TrainingResult:
    complete: bool
    units_total: int
    units_reused: int  # (epoch, shard) units found done in a checkpoint
    units_trained: int
    vectors: np.ndarray | None
    model: object  # the trainer's model (a gensim Word2Vec, a pipeline.embedding.skipgram_numba.Model)
    seconds: float
    words_trained: int
    # Time in the trainer's unit and in writing checkpoints, per (epoch, shard) unit, over every call
    # that trained a unit of this run (a resumed run carries them over from its checkpoint).
    unit_seconds: list[float] = field(default_factory=list)
    checkpoint_seconds: list[float] = field(default_factory=list)
    checkpoint: Path | None = None  # the folder training resumes from
