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
from typing import Callable, Protocol

import numpy as np
from gensim.models import Word2Vec

from pipeline import defaults
from pipeline.huffman import assign_binary_codes
from pipeline.walks import ShardedCorpus

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


class _ProgressHandler(logging.Handler):
    """Forwards gensim's periodic training progress lines to a callback."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "PROGRESS" in message or "training on" in message:
            self.progress(message)


def _check_counts(vertex_counts: np.ndarray) -> None:
    if vertex_counts.min(initial=1) <= 0:
        missing = np.flatnonzero(vertex_counts <= 0)
        raise ValueError(f"{len(missing)} vertices never occur in the walks (first: {missing[:5].tolist()})")


class _Word2Vec(Word2Vec):
    """gensim's Word2Vec with the Huffman tree built by ``pipeline.huffman`` (the same tree, in a second instead of
    minutes at the paper's scale); everything else, training included, is gensim's."""

    def create_binary_tree(self):
        assign_binary_codes(self.wv)


def new_model(params: SkipGramParams, vertex_counts: np.ndarray) -> Word2Vec:
    """An untrained model whose vocabulary is the walker's vertex counts (no corpus scan)."""
    model = _Word2Vec(**params.gensim_kwargs())
    model.build_vocab_from_freq({str(v): int(c) for v, c in enumerate(vertex_counts)})
    return model


@contextmanager
def _forwarded_progress(progress: Callable[[str], None] | None):
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


def _vertex_order_vectors(model: Word2Vec, n_vertices: int) -> np.ndarray:
    order = np.array([model.wv.key_to_index[str(v)] for v in range(n_vertices)])
    return np.ascontiguousarray(model.wv.vectors[order], dtype=np.float32)


def _train(model: Word2Vec, corpus_file: Path | str, words: int, epochs: int, start_alpha: float, end_alpha: float) -> float:
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
    """Train on one corpus file in one call, no checkpoints (``train_units`` trains shard by shard);
    return the model, the vectors in vertex order and training stats."""
    _check_counts(vertex_counts)
    model = new_model(params, vertex_counts)
    total_words = int(vertex_counts.sum())
    with _forwarded_progress(progress):
        seconds = _train(model, corpus_path, total_words, params.epochs, params.alpha, params.min_alpha)
    stats = {"seconds": seconds, "words": total_words * params.epochs,
             "words_per_second": total_words * params.epochs / max(seconds, 1e-9)}
    return model, _vertex_order_vectors(model, len(vertex_counts)), stats


@dataclass
class TrainingResult:
    complete: bool
    units_total: int
    units_reused: int  # (epoch, shard) units found done in a checkpoint
    units_trained: int
    vectors: np.ndarray | None
    model: Word2Vec | None
    seconds: float
    words_trained: int
    # Time in gensim's train() and in writing checkpoints, per (epoch, shard) unit, over every call
    # that trained a unit of this run (a resumed run carries them over from its checkpoint).
    unit_seconds: list[float] = field(default_factory=list)
    checkpoint_seconds: list[float] = field(default_factory=list)
    checkpoint: Path | None = None  # the folder training resumes from


class Checkpointer(Protocol):
    """Where a training keeps its progress (``pipeline.checkpoints.Checkpoint``)."""

    folder: Path

    def state(self) -> dict: ...

    def load_model(self, done: int, fresh: Callable[[], Word2Vec]) -> Word2Vec: ...

    def save_skeleton(self, model: Word2Vec) -> None: ...

    def save_weights(self, model: Word2Vec, done: int) -> None: ...

    def save_state(self, state: dict) -> None: ...


def shard_fits(elapsed: float, trained_words: int, next_words: int, max_seconds: float) -> bool:
    """Whether the next shard ends within ``max_seconds``, at the rate measured so far in this call."""
    if trained_words <= 0 or elapsed <= 0:
        return elapsed < max_seconds
    return elapsed + next_words * elapsed / trained_words <= max_seconds


def train_units(
    corpus: ShardedCorpus,
    params: SkipGramParams,
    checkpoint: Checkpointer | None = None,
    progress: Callable[[str], None] | None = None,
    max_units: int | None = None,
    max_seconds: float | None = None,
) -> TrainingResult:
    """Train shard by shard (epoch by epoch); with a ``checkpoint``, save after each and resume from it.

    The learning rate falls linearly over all the words of all epochs, so that each shard trains at
    the same alpha whether the run was interrupted or not: a resumed run trains the same model as an
    uninterrupted one (bit for bit with ``workers=1``). ``max_units`` / ``max_seconds`` stop early
    (complete=False), as an interruption would: at least one shard a call, then no shard that would
    end past ``max_seconds`` at the rate measured so far.
    """
    _check_counts(corpus.vertex_counts)
    units = [(e, i) for e in range(params.epochs) for i in range(len(corpus.shards))]
    words = [int(corpus.shard_words[i]) for _, i in units]
    total = sum(words)
    state = checkpoint.state() if checkpoint else {}
    done = state.get("units_done", 0)
    # Checkpoints written before these were recorded have none: the lists then cover the later units only.
    unit_seconds: list[float] = state.get("unit_seconds", [])
    checkpoint_seconds: list[float] = state.get("checkpoint_seconds", [])
    fresh = lambda: new_model(params, corpus.vertex_counts)  # noqa: E731
    model = checkpoint.load_model(done, fresh) if checkpoint else fresh()
    model.workers = params.gensim_kwargs()["workers"]
    if checkpoint:
        checkpoint.save_skeleton(model)
    reused = done
    if progress:
        progress(f"skip-gram: resuming after {done}/{len(units)} shards from the checkpoint" if done else
                 f"skip-gram: {len(units)} shards of {total / 1e6:,.1f}M words in all"
                 + (", checkpointed after each" if checkpoint else ""))
    t0 = time.perf_counter()
    trained_words = 0
    with _forwarded_progress(progress):
        while done < len(units):
            if done > reused and max_seconds is not None and not shard_fits(
                    time.perf_counter() - t0, trained_words, words[done], max_seconds):
                break
            if max_units is not None and done - reused >= max_units:
                break
            epoch, shard = units[done]
            before = sum(words[:done])
            a0 = params.alpha - (params.alpha - params.min_alpha) * before / total
            a1 = params.alpha - (params.alpha - params.min_alpha) * (before + words[done]) / total
            unit_seconds.append(round(_train(model, corpus.shards[shard], words[done], 1, a0, a1), 4))
            trained_words += words[done]
            done += 1
            if checkpoint:
                t_ckpt = time.perf_counter()
                checkpoint.save_weights(model, done)
                checkpoint_seconds.append(round(time.perf_counter() - t_ckpt, 4))
                checkpoint.save_state({"units_done": done, "units_total": len(units), "unit_seconds": unit_seconds,
                                       "checkpoint_seconds": checkpoint_seconds})
            if progress:
                elapsed = time.perf_counter() - t0
                rate = trained_words / max(elapsed, 1e-9)
                progress(f"skip-gram: epoch {epoch + 1}, shard {shard + 1}/{len(corpus.shards)} done ({done}/{len(units)} units), "
                         f"{rate / 1e3:.0f}k words/s, ETA {(total - sum(words[:done])) / max(rate, 1e-9):.0f}s")
    seconds = time.perf_counter() - t0
    complete = done == len(units)
    vectors = _vertex_order_vectors(model, len(corpus.vertex_counts)) if complete else None
    return TrainingResult(complete, len(units), reused, done - reused, vectors, model, seconds, trained_words,
                          unit_seconds, checkpoint_seconds, checkpoint.folder if checkpoint else None)
