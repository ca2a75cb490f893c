"""What an embedding stage writes of its training (pipeline.embedding.record), for both trainers, on hand-made results."""

import numpy as np

from pipeline.embedding.record import TRAINING_STATS, params_json, resumable_trained, spark_settings, spark_trained, tuned
from pipeline.embedding.skipgram import SkipGramParams, TrainingResult

PARAMS = SkipGramParams(dimensions=16, window=6, epochs=2, alpha=0.05, seed=3)
WALKED = {"seed": 3, "walk_length": 40, "walks_per_vertex": 20, "tokens": 999}


def test_a_resumed_gensim_training_counts_every_attempt():
    result = TrainingResult(complete=True, units_total=4, units_reused=1, units_trained=3, vectors=np.zeros((2, 16)), model=None,
                            seconds=2.0, words_trained=1000, unit_seconds=[0.5, 0.25, 0.25, 0.5], checkpoint_seconds=[0.1, 0.1, 0.2, 0.1])
    trained = resumable_trained(result, PARAMS)
    assert trained.stats == {"seconds": 2.0, "words_per_second": 500.0, "train_seconds_all_attempts": 1.5,
                             "checkpoint_seconds_all_attempts": 0.5}
    assert trained.record["trainer"] == "gensim" and trained.record["dimensions"] == 16 and trained.record["units_timed"] == 4
    written = params_json(trained, WALKED)
    assert written["walk_seed"] == 3 and written["walks_per_vertex"] == 20 and "tokens" not in written
    assert written["checkpoint_seconds_all_attempts"] == 0.5


def test_the_numba_trainer_records_the_settings_it_takes_not_gensims():
    result = TrainingResult(complete=True, units_total=1, units_reused=0, units_trained=1, vectors=np.zeros((2, 16)), model=None,
                            seconds=1.0, words_trained=10, unit_seconds=[0.9], checkpoint_seconds=[0.1])
    record = resumable_trained(result, PARAMS, "numba").record
    assert record["trainer"] == "numba" and record["sg"] == record["hs"] == 1 and record["negative"] == 0
    assert record["window"] == 6 and record["alpha"] == 0.05 and "sample" not in record and "min_count" not in record


def test_spark_word2vec_is_given_and_records_only_the_settings_it_takes():
    assert spark_settings(PARAMS) == {"dimensions": 16, "window": 6, "epochs": 2, "alpha": 0.05, "seed": 3}
    trained = spark_trained({"seconds": 4.0, "words_per_second": 250.0}, PARAMS, partitions=2)
    settings = {k: v for k, v in params_json(trained, WALKED).items() if k not in TRAINING_STATS}
    assert settings == {"trainer": "spark-word2vec", "spark_partitions": 2, "dimensions": 16, "window": 6, "epochs": 2,
                        "alpha": 0.05, "seed": 3, "sg": 1, "hs": 1, "walk_seed": 3, "walk_length": 40, "walks_per_vertex": 20}


def test_the_tuned_point_replaces_the_configured_settings_only_when_the_tuning_ran():
    configured = SkipGramParams(epochs=1, alpha=0.025, window=6, dimensions=16)
    assert tuned(configured, {"enabled": False}) == (configured, {})
    params, changed = tuned(configured, {"enabled": True, "best": {"epochs": 3, "alpha": 0.025, "window": 10}})
    assert (params.epochs, params.alpha, params.window, params.dimensions) == (3, 0.025, 10, 16)
    assert changed == {"epochs": (1, 3), "window": (6, 10)}
    # a result written before the window was searched tunes what it has
    assert tuned(configured, {"enabled": True, "best": {"epochs": 5, "alpha": 0.05}})[0].window == 6
