"""The two resumable skip-gram trainers behind an embedding stage, one face: ``gensim`` (gensim's Word2Vec in its
``corpus_file`` mode: the reference) and ``numba`` (``pipeline.embedding.skipgram_numba``: the same method, each centre's Huffman
path shared by its window). :func:`train_units` drives either, a walk pass at a time, with a checkpoint after each.

A trainer has a ``name``, ``fresh()`` (an untrained model), ``train_unit(model, shard, words, unit, alpha,
end_alpha)`` (one walk file, its learning rate falling from ``alpha`` to ``end_alpha``), ``vectors(model)`` (in
vertex order), and ``load(checkpoint, done)`` / ``save(checkpoint, model, done)``. Which one trains is the
embedding config's ``trainer``; ``benchmarks/trainers.py`` and ``benchmarks/trainer_quality.py`` compare them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from gensim.models import Word2Vec

from pipeline.embedding import skipgram_numba
from pipeline.embedding.skipgram import (
    SkipGramParams,
    TrainingResult,
    check_counts,
    forwarded_progress,
    new_model,
    train_file,
    vertex_order_vectors,
)
from pipeline.engines import GENSIM, LOCAL_ENGINE, NUMBA, TRAINERS
from pipeline.network.walk_reader import check_walk_words, count_walk_words, one_walk_file, read_walk_blocks
from pipeline.network.walks import ShardedCorpus

RESUMABLE = TRAINERS[LOCAL_ENGINE]


class GensimTrainer:
    name = GENSIM

    def __init__(self, params: SkipGramParams, counts: np.ndarray, scratch: Path | None = None) -> None:
        self.params, self.counts, self.scratch = params, counts, scratch

    def fresh(self) -> Word2Vec:
        return new_model(self.params, self.counts)

    def train_unit(self, model: Word2Vec, shard: Path, words: int, unit: int, alpha: float, end_alpha: float) -> None:
        # gensim trains on whatever the file holds: a cut file would train on fewer walks without a word
        check_walk_words(shard, count_walk_words(shard, len(self.counts)), words)  # (about 1 % of the unit's time)
        with one_walk_file(shard, self.scratch) as corpus_file:  # a pass Spark wrote as parts: joined, as gensim reads one file
            train_file(model, corpus_file, words, 1, alpha, end_alpha)

    def vectors(self, model: Word2Vec) -> np.ndarray:
        return vertex_order_vectors(model, len(self.counts))

    def load(self, checkpoint, done: int) -> Word2Vec:
        model = checkpoint.load_model(done, self.fresh)
        model.workers = self.params.gensim_kwargs()["workers"]
        checkpoint.save_skeleton(model)  # the vocabulary and tree, once
        return model

    @staticmethod
    def save(checkpoint, model: Word2Vec, done: int) -> None:
        checkpoint.save_weights(model, done)


class NumbaTrainer:
    name = NUMBA

    def __init__(self, params: SkipGramParams, counts: np.ndarray, progress: Callable[[str], None] | None = None) -> None:
        self.progress = progress
        self.kernel = skipgram_numba.Trainer(counts, params.dimensions, params.window, params.seed,
                                       params.workers or os.cpu_count() or 1)

    def fresh(self) -> skipgram_numba.Model:
        return self.kernel.fresh()

    def train_unit(self, model: skipgram_numba.Model, shard: Path, words: int, unit: int, alpha: float, end_alpha: float) -> None:
        trained = self.kernel.train_unit(model, read_walk_blocks(shard, len(self.kernel.counts)), words, unit, alpha, end_alpha,
                                         self.progress)
        check_walk_words(shard, trained, words)

    @staticmethod
    def vectors(model: skipgram_numba.Model) -> np.ndarray:
        model.syn1 = None  # training is over (its checkpoint written): the tree's matrix is not needed again
        return model.vertex_vectors()

    def load(self, checkpoint, done: int) -> skipgram_numba.Model:
        return self.kernel.load(checkpoint.weights(done)) if done else self.fresh()

    def save(self, checkpoint, model: skipgram_numba.Model, done: int) -> None:
        checkpoint.save_arrays(done, lambda folder: self.kernel.save(model, folder))


def trainer_for(name: str, params: SkipGramParams, counts: np.ndarray, progress: Callable[[str], None] | None = None,
                scratch: Path | None = None) -> GensimTrainer | NumbaTrainer:
    """The trainer called ``name``; ``progress`` hears the numba trainer's lines within a pass (gensim's own progress
    lines reach it through ``forwarded_progress``); gensim joins a pass written as parts into a file under
    ``scratch``."""
    if name not in RESUMABLE:
        raise ValueError(f"trainer {name!r} is not one of {', '.join(RESUMABLE)}")
    return GensimTrainer(params, counts, scratch) if name == "gensim" else NumbaTrainer(params, counts, progress)


class Checkpointer(Protocol):
    """Where a training keeps its progress (``pipeline.embedding.checkpoints.Checkpoint``)."""

    folder: Path

    def state(self) -> dict: ...

    def load_model(self, done: int, fresh: Callable[[], Word2Vec]) -> Word2Vec: ...

    def save_skeleton(self, model: Word2Vec) -> None: ...

    def save_weights(self, model: Word2Vec, done: int) -> None: ...

    def weights(self, done: int) -> Path: ...

    def save_arrays(self, done: int, write: Callable[[Path], None]) -> None: ...

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
    trainer: str = "gensim",
) -> TrainingResult:
    """Train shard by shard (epoch by epoch) with ``trainer`` (``RESUMABLE``); with a ``checkpoint``, save after each
    and resume from it.

    The learning rate falls linearly over all the words of all epochs, so that each shard trains at
    the same alpha whether the run was interrupted or not: a resumed run trains the same model as an
    uninterrupted one (bit for bit with ``workers=1``, either trainer). ``max_units`` / ``max_seconds`` stop early
    (complete=False), as an interruption would: at least one shard a call, then no shard that would
    end past ``max_seconds`` at the rate measured so far.
    """
    check_counts(corpus.vertex_counts)
    units = [(e, i) for e in range(params.epochs) for i in range(len(corpus.shards))]
    words = [int(corpus.shard_words[i]) for _, i in units]
    total = sum(words)
    state = checkpoint.state() if checkpoint else {}
    done = state.get("units_done", 0)
    # Checkpoints written before these were recorded have none: the lists then cover the later units only.
    unit_seconds: list[float] = state.get("unit_seconds", [])
    checkpoint_seconds: list[float] = state.get("checkpoint_seconds", [])
    face = trainer_for(trainer, params, corpus.vertex_counts, progress, checkpoint.folder if checkpoint else None)
    model = face.load(checkpoint, done) if checkpoint else face.fresh()
    reused = done
    if progress:
        progress(f"skip-gram: resuming after {done}/{len(units)} shards from the checkpoint" if done else
                 f"skip-gram: {len(units)} shards of {total / 1e6:,.1f}M words in all"
                 + (", checkpointed after each" if checkpoint else ""))
    t0 = time.perf_counter()
    trained_words = 0
    with forwarded_progress(progress):
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
            face.train_unit(model, corpus.shards[shard], words[done], done, a0, a1)
            unit_seconds.append(round(time.perf_counter() - t_unit, 4))
            trained_words += words[done]
            done += 1
            if checkpoint:
                t_ckpt = time.perf_counter()
                face.save(checkpoint, model, done)
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
    vectors = face.vectors(model) if complete else None
    return TrainingResult(complete, len(units), reused, done - reused, vectors, model, seconds, trained_words,
                          unit_seconds, checkpoint_seconds, checkpoint.folder if checkpoint else None)
