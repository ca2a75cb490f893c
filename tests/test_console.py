"""The concise console (assets.console): one line a message as `stage: message`, a stage's progress thinned out."""

import logging

from assets.console import PROGRESS_EVERY, _Concise


def record(step: str, message: str, at: float, level: int = logging.INFO) -> logging.LogRecord:
    r = logging.LogRecord("dagster", level, __file__, 1, f"job - run - {step} - {message}", (), None)
    r.created = at
    r.dagster_meta = {"orig_message": message, "step_key": step, "job_name": "latent_space_pipeline"}
    return r


def test_progress_lines_are_thinned_per_stage_and_other_lines_pass():
    concise = _Concise()
    lines = [record("walks_uss", "walks: pass 1/20 written, ETA 9s", 0.0), record("walks_uss", "walks: pass 2/20 written, ETA 8s", 1.0),
             record("walks_us", "walks: pass 1/20 written, ETA 3s", 2.0),  # another stage: its own clock
             record("walks_uss", "removed 1 older materialization(s)", 3.0),  # not progress: always
             record("walks_uss", "walks: pass 9/20 written, ETA 1s", PROGRESS_EVERY + 0.5),
             record("walks_uss", "slow disk, ETA unknown", 4.0, logging.WARNING)]  # a warning is never thinned
    kept = [r.getMessage() for r in lines if concise.filter(r)]
    assert kept == ["walks_uss: walks: pass 1/20 written, ETA 9s", "walks_us: walks: pass 1/20 written, ETA 3s",
                    "walks_uss: removed 1 older materialization(s)", "walks_uss: walks: pass 9/20 written, ETA 1s",
                    "walks_uss: slow disk, ETA unknown"]


def test_a_failure_keeps_its_message_not_its_trace_and_skipped_steps_are_not_printed():
    concise = _Concise()
    failed = record("splits", "splits: no user has 20 test sessions\\nStack Trace:\\n  File ...".replace("\\n", "\n"), 0.0, logging.ERROR)
    assert concise.filter(failed) and failed.getMessage() == "splits: no user has 20 test sessions"
    assert not concise.filter(record("metrics", "Dependencies for step metrics failed: ['splits']. Not executing.", 1.0))


def test_gensims_own_lines_show_only_when_the_stage_has_been_quiet_for_a_minute():
    from assets.console import GENSIM_EVERY
    from pipeline.embedding.skipgram import GENSIM

    concise = _Concise()
    gensim = f"{GENSIM}EPOCH 0 - PROGRESS: at 50.00% words, 200000 words/s"
    lines = [record("embedding_uss", "skip-gram: 20 shards of 13.0M words in all", 0.0),
             record("embedding_uss", gensim, 1.0),  # the stage has just spoken
             record("embedding_uss", "skip-gram: epoch 1, shard 1/20 done, ETA 50s", 2.0),  # our own progress: first always
             record("embedding_uss", gensim, 30.0),  # within a minute of the last line
             record("embedding_uss", gensim, 2.0 + GENSIM_EVERY + 1),  # a long shard: a minute of silence, then gensim's word
             record("embedding_uss", "skip-gram: epoch 1, shard 2/20 done, ETA 40s", 2.0 + GENSIM_EVERY + 5),  # thinned as usual
             record("embedding_uss", "skip-gram: epoch 1, shard 3/20 done, ETA 30s", 2.0 + GENSIM_EVERY + 1 + PROGRESS_EVERY)]
    kept = [r.getMessage().removeprefix("embedding_uss: ") for r in lines if concise.filter(r)]
    assert kept == ["skip-gram: 20 shards of 13.0M words in all", "skip-gram: epoch 1, shard 1/20 done, ETA 50s", gensim,
                    "skip-gram: epoch 1, shard 3/20 done, ETA 30s"]
