"""Skip-gram with hierarchical softmax over a walk corpus (DeepWalk, Section 3.2), via gensim.

Every hyper-parameter is set explicitly: gensim's defaults (negative=5, sample=1e-3, epochs=5,
min_count=5) would silently change the method. The vocabulary comes from the vertex counts the
walker already made, so the corpus is read once, by training, in gensim's GIL-free
``corpus_file`` mode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock, Timeout
from gensim.models import Word2Vec

from pipeline import defaults
from pipeline.io import read_json, write_json

# DeepWalk does not down-sample frequent vertices. gensim 4.4 only seeds its per-call random stream
# (which draws the reduced window sizes) when negative or sample is non-zero: with hs=1,
# negative=0, sample=0 it reads uninitialised memory, and results differ from call to call. A
# sample threshold of 0.99 of the corpus keeps every word's keep-probability at 1 (gensim keeps a
# word of count v with probability min(1, (sqrt(v/t) + 1) t/v), which is 1 for v <= 2.6 t), so
# nothing is dropped and the stream is seeded from the model's seed.
NO_DOWNSAMPLING = 0.99

# In a checkpoint folder (one per key), STATE says how many shards are done and what each took;
# each ckpt-NNNN beside it holds the weights after shard NNNN, with a STATE of the model's counters.
STATE = "state.json"


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


def new_model(params: SkipGramParams, vertex_counts: np.ndarray) -> Word2Vec:
    """An untrained model whose vocabulary is the walker's vertex counts (no corpus scan)."""
    model = Word2Vec(**params.gensim_kwargs())
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


def train_skipgram(
    corpus_path: Path | str,
    vertex_counts: np.ndarray,
    params: SkipGramParams,
    progress: Callable[[str], None] | None = None,
) -> tuple[Word2Vec, np.ndarray, dict]:
    """Train on the corpus; return the model, the vectors in vertex order and training stats."""
    _check_counts(vertex_counts)
    model = new_model(params, vertex_counts)
    total_words = int(vertex_counts.sum())
    t0 = time.perf_counter()
    with _forwarded_progress(progress):
        model.train(
            corpus_file=str(corpus_path),
            total_words=total_words,
            epochs=params.epochs,
            start_alpha=params.alpha,
            end_alpha=params.min_alpha,
            report_delay=5.0,
        )
    seconds = time.perf_counter() - t0
    vectors = _vertex_order_vectors(model, len(vertex_counts))
    stats = {
        "seconds": seconds,
        "words": total_words * params.epochs,
        "words_per_second": total_words * params.epochs / max(seconds, 1e-9),
    }
    return model, vectors, stats


@dataclass
class ResumableResult:
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


def _save_dir(target: Path, write: Callable[[Path], None]) -> None:
    """Write a folder under a temporary name, then rename it into place: complete or absent."""
    tmp = target.with_name(f".{target.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def _save_training_state(model: Word2Vec, folder: Path) -> None:
    """What training changes: the two weight matrices, the random state the workers seed from, the counters."""
    np.save(folder / "vectors.npy", model.wv.vectors)
    np.save(folder / "syn1.npy", model.syn1)
    kind, keys, pos, has_gauss, cached = model.random.get_state()
    np.save(folder / "random_keys.npy", keys)
    write_json(folder / STATE, {"random": [kind, int(pos), int(has_gauss), float(cached)],
                                       "train_count": model.train_count, "total_train_time": model.total_train_time,
                                       "min_alpha_yet_reached": float(model.min_alpha_yet_reached)})


def _restore_training_state(model: Word2Vec, folder: Path) -> None:
    model.wv.vectors[:] = np.load(folder / "vectors.npy")
    model.syn1[:] = np.load(folder / "syn1.npy")
    state = read_json(folder / STATE)
    kind, pos, has_gauss, cached = state["random"]
    model.random.set_state((kind, np.load(folder / "random_keys.npy"), pos, has_gauss, cached))
    model.train_count = state["train_count"]
    model.total_train_time = state["total_train_time"]
    model.min_alpha_yet_reached = state["min_alpha_yet_reached"]


def checkpoint_states(checkpoint_dir: Path | str) -> list[Path]:
    """The state file of every checkpoint under ``checkpoint_dir`` (each rewritten with every shard trained)."""
    return sorted(Path(checkpoint_dir).glob(f"*/{STATE}"))


def checkpoint_key(corpus, params: SkipGramParams) -> str:
    """What produced a checkpoint: the config, the shards (where they are: one materialization of the
    walks) and the vocabulary. Another key is never reused."""
    record = {
        "params": params.as_record(),
        "shards": [str(Path(p).resolve()) for p in corpus.shards],
        "shard_words": list(map(int, corpus.shard_words)),
        "counts": hashlib.sha256(np.ascontiguousarray(corpus.vertex_counts, dtype=np.int64).tobytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]


def shard_fits(elapsed: float, trained_words: int, next_words: int, max_seconds: float) -> bool:
    """Whether the next shard ends within ``max_seconds``, at the rate measured so far in this call."""
    if trained_words <= 0 or elapsed <= 0:
        return elapsed < max_seconds
    return elapsed + next_words * elapsed / trained_words <= max_seconds


def train_skipgram_resumable(
    corpus,
    params: SkipGramParams,
    checkpoint_dir: Path | str,
    progress: Callable[[str], None] | None = None,
    max_units: int | None = None,
    max_seconds: float | None = None,
) -> ResumableResult:
    """Train shard by shard (epoch by epoch), saving the model after each; resume from the last checkpoint.

    The learning rate falls linearly over all the words of all epochs, so that each shard trains at
    the same alpha whether the run was interrupted or not: a resumed run trains the same model as an
    uninterrupted one (bit for bit with ``workers=1``). Checkpoints are keyed by a hash of the config,
    the shards and the vocabulary; others are deleted, never reused. ``max_units`` / ``max_seconds``
    stop early (complete=False), as an interruption would: at least one shard a call, then no shard
    that would end past ``max_seconds`` at the rate measured so far.
    """
    _check_counts(corpus.vertex_counts)
    root = Path(checkpoint_dir)
    key = checkpoint_key(corpus, params)
    root.mkdir(parents=True, exist_ok=True)
    folder = root / key
    # Trainings side by side (two runs) each hold their checkpoint's lock; only unheld others are stale.
    lock = FileLock(str(root / f"{key}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RuntimeError(f"another process is training from the same walks with the same settings ({folder}); "
                           "wait for it to finish") from None
    try:
        _remove_stale_checkpoints(root, key)
        return _train_units(corpus, params, folder, progress, max_units, max_seconds)
    finally:
        lock.release()


def _remove_stale_checkpoints(root: Path, key: str) -> None:
    """Delete the checkpoints of other keys that no process is training from."""
    for other in root.iterdir():
        name = other.name.removesuffix(".lock")
        if name == key or not other.is_dir():
            continue
        stale = FileLock(str(root / f"{name}.lock"))
        try:
            stale.acquire(timeout=0)
        except Timeout:
            continue
        try:
            shutil.rmtree(other, ignore_errors=True)
        finally:
            stale.release()
            Path(stale.lock_file).unlink(missing_ok=True)


def discard_checkpoint(result: "ResumableResult") -> None:
    """Remove a finished training's checkpoint (once its vectors are saved)."""
    if result.checkpoint is not None:
        shutil.rmtree(result.checkpoint, ignore_errors=True)
        result.checkpoint.with_name(f"{result.checkpoint.name}.lock").unlink(missing_ok=True)


def _train_units(corpus, params: SkipGramParams, folder: Path, progress, max_units, max_seconds) -> "ResumableResult":
    key = folder.name
    folder.mkdir(exist_ok=True)
    state_path = folder / STATE
    units = [(e, i) for e in range(params.epochs) for i in range(len(corpus.shards))]
    words = [int(corpus.shard_words[i]) for _, i in units]
    total = sum(words)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    done = state.get("units_done", 0)
    # Checkpoints written before these were recorded have none: the lists then cover the later units only.
    unit_seconds: list[float] = state.get("unit_seconds", [])
    checkpoint_seconds: list[float] = state.get("checkpoint_seconds", [])
    skeleton = folder / "skeleton" / "model.gensim"
    if done and (folder / f"ckpt-{done:04d}" / "model.gensim").exists():  # a whole model saved (older checkpoints)
        model = Word2Vec.load(str(folder / f"ckpt-{done:04d}" / "model.gensim"))
    elif done:
        model = Word2Vec.load(str(skeleton))
        _restore_training_state(model, folder / f"ckpt-{done:04d}")
    else:
        model = new_model(params, corpus.vertex_counts)
    model.workers = params.gensim_kwargs()["workers"]
    if not skeleton.exists():
        # The vocabulary and Huffman tree never change in training: saved once, not with every
        # checkpoint (at 3.1M vertices they are a 475 MB pickle, 30 s to write).
        _save_dir(skeleton.parent, lambda tmp: model.save(str(tmp / "model.gensim")))
    reused = done
    if progress:
        progress(f"skip-gram: resuming after {done}/{len(units)} shards from the checkpoint" if done else
                 f"skip-gram: {len(units)} shards of {total / 1e6:,.1f}M words in all, checkpointed after each")
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
            t_unit = time.perf_counter()
            model.train(corpus_file=str(corpus.shards[shard]), total_words=words[done], epochs=1,
                        start_alpha=a0, end_alpha=a1, report_delay=30.0)
            unit_seconds.append(round(time.perf_counter() - t_unit, 4))
            trained_words += words[done]
            done += 1
            ckpt = folder / f"ckpt-{done:04d}"
            t_ckpt = time.perf_counter()
            _save_dir(ckpt, lambda tmp: _save_training_state(model, tmp))
            checkpoint_seconds.append(round(time.perf_counter() - t_ckpt, 4))
            write_json(state_path, {"units_done": done, "units_total": len(units), "key": key,
                                    "unit_seconds": unit_seconds, "checkpoint_seconds": checkpoint_seconds})
            for old in folder.glob("ckpt-*"):
                if old != ckpt:
                    shutil.rmtree(old, ignore_errors=True)
            if progress:
                elapsed = time.perf_counter() - t0
                rate = trained_words / max(elapsed, 1e-9)
                progress(f"skip-gram: epoch {epoch + 1}, shard {shard + 1}/{len(corpus.shards)} done ({done}/{len(units)} units), "
                         f"{rate / 1e3:.0f}k words/s, ETA {(total - sum(words[:done])) / max(rate, 1e-9):.0f}s")
    seconds = time.perf_counter() - t0
    complete = done == len(units)
    vectors = _vertex_order_vectors(model, len(corpus.vertex_counts)) if complete else None
    return ResumableResult(complete, len(units), reused, done - reused, vectors, model, seconds, trained_words,
                           unit_seconds, checkpoint_seconds, folder)
