"""What an embedding stage records of its training, whichever trainer ran it: a resumable skip-gram
(``pipeline.embedding.checkpoints``: gensim's or the numba kernel's) or Spark ML's Word2Vec (``pipeline.embedding.spark_word2vec``).

Each gives a ``Trained``: ``stats`` (timings, never a method's params), ``record`` (the settings that
made the vectors, with the trainer) and ``metadata`` (lines for the UI). ``params_json`` is the
stage's params.json, the same shape for both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from pipeline.embedding.skipgram import SkipGramParams, TrainingResult
from pipeline.engines import ENGINES, SPARK_WORD2VEC
from pipeline.engines import TRAINERS as ENGINE_TRAINERS

TRAINERS = tuple(t for engine in ENGINES for t in ENGINE_TRAINERS[engine])  # every trainer, by engine
# What an embedding's params.json records about the training rather than its settings (not a method's params).
TRAINING_STATS = ("seconds", "words_per_second", "train_seconds_all_attempts", "checkpoint_seconds_all_attempts", "shards_reused",
                  "shards_trained", "units_timed", "units_total")
# The skip-gram settings Spark ML's Word2Vec takes (it is always skip-gram with hierarchical softmax; no
# workers, min_alpha or min_count of gensim's).
SPARK_WORD2VEC_SETTINGS = ("dimensions", "window", "epochs", "alpha", "seed")
# The skip-gram settings ``skipgram_tuning`` searches on validation; its best point is what ``embedding_uss`` trains.
TUNED_SETTINGS = ("epochs", "alpha", "window")


def tuned(params: SkipGramParams, result: dict) -> tuple[SkipGramParams, dict]:
    """``params`` with the settings ``skipgram_tuning`` chose (its result.json), as ``baselines`` refits the ALS point
    ``als_tuning`` chose; and what changed, {setting: (configured, tuned)}. A tuning that did not run leaves ``params``
    as configured."""
    if not result.get("enabled"):
        return params, {}
    best = {k: result["best"][k] for k in TUNED_SETTINGS if k in result["best"]}
    changed = {k: (getattr(params, k), v) for k, v in best.items() if getattr(params, k) != v}
    return replace(params, **best), changed


@dataclass(frozen=True)
class Trained:
    stats: dict
    record: dict
    metadata: dict


def resumable_trained(result: TrainingResult, params: SkipGramParams, trainer: str = "gensim") -> Trained:
    """A finished resumable training (``trainer``: gensim or numba): its time over every attempt, and how many shards
    a checkpoint gave. gensim's record holds its whole Word2Vec configuration; the numba kernel's the settings it takes
    (always skip-gram with hierarchical softmax; ``workers`` its threads)."""
    stats = {"seconds": result.seconds, "words_per_second": result.words_trained / max(result.seconds, 1e-9),
             # over every attempt: the bare skip-gram time, and the checkpoints' (units timed out of units_total)
             "train_seconds_all_attempts": sum(result.unit_seconds),
             "checkpoint_seconds_all_attempts": sum(result.checkpoint_seconds)}
    settings = params.as_record() if trainer == "gensim" else {**asdict(params), "sg": 1, "hs": 1, "negative": 0}
    record = {**settings, "trainer": trainer, "shards_reused": result.units_reused,
              "shards_trained": result.units_trained, "units_timed": len(result.unit_seconds), "units_total": result.units_total}
    metadata = {"shards reused from a checkpoint": result.units_reused, "shards trained": result.units_trained}
    return Trained(stats, record, metadata)


def spark_settings(params: SkipGramParams) -> dict:
    """The settings of ``params`` that Spark ML's Word2Vec is given."""
    return {k: v for k, v in params.as_record().items() if k in SPARK_WORD2VEC_SETTINGS}


def spark_trained(outcome: dict, params: SkipGramParams, partitions: int) -> Trained:
    """A Spark ML Word2Vec training (``outcome``: what ``pipeline.embedding.spark_word2vec.train`` returned)."""
    stats = {"seconds": outcome["seconds"], "words_per_second": outcome["words_per_second"]}
    record = {"trainer": SPARK_WORD2VEC, "spark_partitions": partitions, **spark_settings(params), "sg": 1, "hs": 1}
    return Trained(stats, record, {"trainer": f"Spark ML Word2Vec, {partitions} partition(s)"})


def params_json(trained: Trained, walked: dict) -> dict:
    """The stage's params.json: the settings, the rounded timings, and the walks' seed and shape they were trained on."""
    return {**trained.record, **{k: round(v, 2) for k, v in trained.stats.items()}, "walk_seed": walked["seed"],
            "walk_length": walked["walk_length"], "walks_per_vertex": walked["walks_per_vertex"]}
