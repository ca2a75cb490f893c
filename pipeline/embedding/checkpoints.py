"""Resumable skip-gram training: a checkpoint after every walk shard, resumed by the next attempt.

Checkpoints of one stage live in one folder (``<store>/<stage>/checkpoints/``), one subfolder per
key: a hash of the skip-gram's config, the shards (where they are: one materialization of the
walks) and the vocabulary, so a checkpoint is never reused for another training. In a key's
folder, ``skeleton/`` holds the vocabulary and Huffman tree once, ``ckpt-NNNN/`` the weights after
shard NNNN, and STATE how many shards are done and what each took. A training holds its key's lock
while it runs; the checkpoints of other keys that no process holds are stale and deleted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock, Timeout
from gensim.models import Word2Vec

from pipeline.embedding.skipgram import SkipGramParams, TrainingResult
from pipeline.embedding.trainers import train_units
from pipeline.io import read_json, write_json
from pipeline.network.walks import ShardedCorpus

STATE = "state.json"
MODEL = "model.gensim"


class Checkpoint:
    """One training's checkpoint folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def skeleton(self) -> Path:
        return self.folder / "skeleton" / MODEL

    def weights(self, done: int) -> Path:
        """The folder of the weights after ``done`` shards."""
        return self.folder / f"ckpt-{done:04d}"

    def state(self) -> dict:
        path = self.folder / STATE
        return json.loads(path.read_text()) if path.exists() else {}

    def load_model(self, done: int, fresh: Callable[[], Word2Vec]) -> Word2Vec:
        """The model after ``done`` shards (a fresh one for none)."""
        if done and (self.weights(done) / MODEL).exists():  # a whole model saved (older checkpoints)
            return Word2Vec.load(str(self.weights(done) / MODEL))
        if done:
            model = Word2Vec.load(str(self.skeleton))
            _restore_training_state(model, self.weights(done))
            return model
        return fresh()

    def save_skeleton(self, model: Word2Vec) -> None:
        # The vocabulary and Huffman tree never change in training: saved once, not with every
        # checkpoint (at 3.1M vertices they are a 475 MB pickle, 30 s to write).
        if not self.skeleton.exists():
            _save_dir(self.skeleton.parent, lambda tmp: model.save(str(tmp / MODEL)))

    def save_weights(self, model: Word2Vec, done: int) -> None:
        _save_dir(self.weights(done), lambda tmp: _save_training_state(model, tmp))

    def save_arrays(self, done: int, write: Callable[[Path], None]) -> None:
        """A trainer's own weights after ``done`` shards, written by ``write(folder)`` (complete or absent)."""
        _save_dir(self.weights(done), write)

    def save_state(self, state: dict) -> None:
        """Point the checkpoint at the newest weights, then drop the older ones."""
        write_json(self.folder / STATE, {**state, "key": self.folder.name})
        newest = self.weights(state["units_done"])
        for old in self.folder.glob("ckpt-*"):
            if old != newest:
                shutil.rmtree(old, ignore_errors=True)


def train_skipgram_resumable(
    corpus: ShardedCorpus,
    params: SkipGramParams,
    checkpoint_dir: Path | str,
    progress: Callable[[str], None] | None = None,
    max_units: int | None = None,
    max_seconds: float | None = None,
    trainer: str = "gensim",
) -> TrainingResult:
    """``train_units`` with a checkpoint under ``checkpoint_dir`` after every shard, resumed from the last one."""
    root = Path(checkpoint_dir)
    key = checkpoint_key(corpus, params, trainer)
    root.mkdir(parents=True, exist_ok=True)
    # Trainings side by side (two runs) each hold their checkpoint's lock; only unheld others are stale.
    lock = FileLock(str(root / f"{key}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RuntimeError(f"another process is training from the same walks with the same settings ({root / key}); "
                           "wait for it to finish") from None
    try:
        _remove_stale_checkpoints(root, key)
        return train_units(corpus, params, Checkpoint(root / key), progress, max_units, max_seconds, trainer)
    finally:
        lock.release()


def discard_checkpoint(result: TrainingResult) -> None:
    """Remove a finished training's checkpoint (once its vectors are saved)."""
    if result.checkpoint is not None:
        shutil.rmtree(result.checkpoint, ignore_errors=True)
        result.checkpoint.with_name(f"{result.checkpoint.name}.lock").unlink(missing_ok=True)


def checkpoint_states(checkpoint_dir: Path | str) -> list[Path]:
    """The state file of every checkpoint under ``checkpoint_dir`` (each rewritten with every shard trained)."""
    return sorted(Path(checkpoint_dir).glob(f"*/{STATE}"))


def checkpoint_key(corpus: ShardedCorpus, params: SkipGramParams, trainer: str = "gensim") -> str:
    """What produced a checkpoint: the trainer, the config, the shards (where they are: one materialization of the
    walks) and the vocabulary. Another key is never reused."""
    record = {
        **({"trainer": trainer} if trainer != "gensim" else {}),  # (gensim's keys as they were: its checkpoints resume)
        "params": params.as_record(),
        "shards": [str(Path(p).resolve()) for p in corpus.shards],
        "shard_words": list(map(int, corpus.shard_words)),
        "counts": hashlib.sha256(np.ascontiguousarray(corpus.vertex_counts, dtype=np.int64).tobytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]


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


