"""The embedding stages (``embedding_uss``, ``embedding_uss_2d``, ``embedding_us``): DeepWalk's skip-gram on a walk
corpus, in the one stage signature.

The settings are the stage's config, or the point its tuning stage chose on validation (``contract.TUNED_BY``:
``skipgram_tuning`` for ``embedding_uss``) when that ran (``chosen_settings``). A resumable trainer (gensim's or
the numba kernel) trains shard by shard with a checkpoint after each; a training that reaches its time budget
(``max_train_seconds``) stops at a shard's end and raises ``Paused``: run the stage again to resume. Spark ML's
Word2Vec runs on the engine's cluster; ``spark_embedding`` records what it did the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from pipeline.contract import TUNED_BY, Log, StageFiles
from pipeline.embedding.checkpoints import discard_checkpoint, train_skipgram_resumable
from pipeline.embedding.record import TRAINERS, TUNED_SETTINGS, Trained, params_json, resumable_trained, spark_trained, tuned
from pipeline.embedding.skipgram import SkipGramParams
from pipeline.embedding.trainers import RESUMABLE
from pipeline.engines import GENSIM
from pipeline.io import read_json, save_npy, write_json
from pipeline.network.walks import ShardedCorpus


class BadCorpus(ValueError):
    """The walk corpus cannot give what the stage asks of it (fewer shards than ``train_shards``, ...)."""


class Paused(Exception):
    """A training stopped at its time budget after ``done`` of ``total`` shards; its checkpoint resumes it."""

    def __init__(self, done: int, total: int, max_train_seconds: float) -> None:
        super().__init__(f"paused after {done}/{total} shards (max_train_seconds={max_train_seconds}); materialize again "
                         "to resume from the checkpoint")
        self.done, self.total = done, total


def check_trainer(trainer: str, train_shards: int = 0) -> None:
    """Refuse a trainer this project does not have, and ``train_shards`` with a trainer that cannot take it."""
    if trainer not in TRAINERS:
        raise ValueError(f"trainer {trainer!r} is not one of {', '.join(TRAINERS)}")
    if train_shards and trainer not in RESUMABLE:
        raise ValueError(f"train_shards={train_shards} applies to the {' and '.join(RESUMABLE)} trainers, not {trainer!r}")


def _score(value) -> str:
    return "not in the grid" if value is None else f"{value:.4f}"


def chosen_settings(name: str, params: SkipGramParams, upstream: Mapping[str, StageFiles]) -> tuple[SkipGramParams, dict, dict]:
    """The skip-gram settings of stage ``name``: ``params`` (its config's), or the point its tuning stage chose when that
    ran; a metadata line saying which, and what the tuning changed ({setting: (configured, tuned)})."""
    for stage in TUNED_BY.get(name, ()):
        result = read_json(upstream[stage]["result"])
        params, changed = tuned(params, result)
        if not result.get("enabled"):
            return params, {"settings": f"this asset's config ({stage} is off: the paper's unless configured)"}, {}
        chosen = ", ".join(f"{k}={getattr(params, k)}" for k in TUNED_SETTINGS)
        return params, {"settings": f"chosen on validation by {stage}: {chosen} (validation score {result['best_score']:.4f}, "
                                    f"the paper's point {_score(result.get('paper_score'))}; tuned at d={result.get('dimensions', '?')})"}, changed
    return params, {}, {}


def _finished(out: StageFiles, walks: StageFiles, trained: Trained) -> dict:
    write_json(out["params"], params_json(trained, read_json(walks["stats"])))
    vertices = int(np.load(out["vectors"], mmap_mode="r").shape[0])
    return {"vertices": vertices, "record": trained.record, "stats": trained.stats, "metadata": trained.metadata}


def embedding(upstream: Mapping[str, StageFiles], out: StageFiles, log: Log = None, *, walks: str, checkpoints: str,
              trainer: str = GENSIM, train_shards: int = 0, max_train_seconds: float = 0.0, spark_partitions: int = 1,
              **skipgram) -> dict:
    """Train the skip-gram of ``trainer`` (resumable: gensim or numba) on the walks of stage ``walks`` with the settings
    ``skipgram`` (``SkipGramParams``' fields), checkpointing under ``checkpoints``; write the vectors and params.json.
    ``train_shards``: the first N walk shards only (a quick run, said wherever the params are read). Returns the
    training's ``record`` (its settings), ``stats`` (timings) and ``metadata``; raises ``Paused`` at the time budget.
    (``spark_partitions`` is Spark ML's Word2Vec's setting, unused by this machine's trainers.)"""
    check_trainer(trainer, train_shards)
    if trainer not in RESUMABLE:
        raise ValueError(f"trainer {trainer!r} runs on the Spark engine (engine: spark), not on this machine")
    params = SkipGramParams(**skipgram)
    try:
        corpus = ShardedCorpus.load(upstream[walks]).first(train_shards)
    except ValueError as e:
        raise BadCorpus(str(e)) from None
    result = train_skipgram_resumable(corpus, params, Path(checkpoints), progress=log, max_seconds=max_train_seconds or None,
                                      trainer=trainer)
    if not result.complete:
        raise Paused(result.units_reused + result.units_trained, result.units_total, max_train_seconds)
    save_npy(out["vectors"], result.vectors)
    discard_checkpoint(result)
    trained = resumable_trained(result, params, trainer)
    if train_shards:  # a quick run: say so wherever the params are read (MLflow, the metrics' method params)
        trained.record["train_shards"] = train_shards
        trained.metadata["trained on walk shards"] = f"the first {train_shards} (train_shards): not the paper's training"
    return _finished(out, upstream[walks], trained)


def spark_embedding(upstream: Mapping[str, StageFiles], out: StageFiles, outcome: dict, params: SkipGramParams, *, walks: str,
                    partitions: int) -> dict:
    """What Spark ML's Word2Vec did (``outcome``: what ``spark_word2vec.train`` returned; it wrote the vectors), recorded
    as ``embedding`` records a resumable training."""
    return _finished(out, upstream[walks], spark_trained(outcome, params, partitions))
