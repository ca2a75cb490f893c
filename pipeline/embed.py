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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from gensim.models import Word2Vec

from pipeline import defaults


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
            "sample": 0.0,
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


class _ProgressHandler(logging.Handler):
    """Forwards gensim's periodic training progress lines to a callback."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "PROGRESS" in message or "training on" in message:
            self.progress(message)


def train_skipgram(
    corpus_path: Path | str,
    vertex_counts: np.ndarray,
    params: SkipGramParams,
    progress: Callable[[str], None] | None = None,
) -> tuple[Word2Vec, np.ndarray, dict]:
    """Train on the corpus; return the model, the vectors in vertex order and training stats."""
    if vertex_counts.min(initial=1) <= 0:
        missing = np.flatnonzero(vertex_counts <= 0)
        raise ValueError(f"{len(missing)} vertices never occur in the walks (first: {missing[:5].tolist()})")
    model = Word2Vec(**params.gensim_kwargs())
    model.build_vocab_from_freq({str(v): int(c) for v, c in enumerate(vertex_counts)})
    total_words = int(vertex_counts.sum())
    gensim_logger = logging.getLogger("gensim.models.word2vec")
    handler = _ProgressHandler(progress) if progress else None
    old_level = gensim_logger.level
    if handler:
        gensim_logger.addHandler(handler)
        gensim_logger.setLevel(logging.INFO)
    t0 = time.perf_counter()
    try:
        model.train(
            corpus_file=str(corpus_path),
            total_words=total_words,
            epochs=params.epochs,
            start_alpha=params.alpha,
            end_alpha=params.min_alpha,
            report_delay=5.0,
        )
    finally:
        if handler:
            gensim_logger.removeHandler(handler)
            gensim_logger.setLevel(old_level)
    seconds = time.perf_counter() - t0
    order = np.array([model.wv.key_to_index[str(v)] for v in range(len(vertex_counts))])
    vectors = np.ascontiguousarray(model.wv.vectors[order], dtype=np.float32)
    stats = {
        "seconds": seconds,
        "words": total_words * params.epochs,
        "words_per_second": total_words * params.epochs / max(seconds, 1e-9),
    }
    return model, vectors, stats
