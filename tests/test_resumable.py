"""Sharded, checkpointed skip-gram training: an interrupted run resumes to the same vectors."""

import numpy as np
import pytest
from filelock import FileLock
from helpers import path_graph

from pipeline.contract import StageFiles
from pipeline.embedding.checkpoints import train_skipgram_resumable
from pipeline.embedding.skipgram import SkipGramParams
from pipeline.embedding.trainers import shard_fits
from pipeline.network.walk_reader import WalkFileError
from pipeline.network.walks import ShardedCorpus, write_corpus, write_corpus_shards

PARAMS = SkipGramParams(dimensions=8, workers=1, epochs=2, seed=3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    corpus, _ = write_corpus_shards(path_graph(40), StageFiles("walks_us", folder), walk_length=15, walks_per_vertex=4, seed=2)
    return corpus


def test_shards_hold_the_same_walks_as_one_corpus(corpus, tmp_path):
    stats = write_corpus(path_graph(40), tmp_path / "one.txt", walk_length=15, walks_per_vertex=4, seed=2)
    assert b"".join(p.read_bytes() for p in corpus.shards) == (tmp_path / "one.txt").read_bytes()
    assert np.array_equal(corpus.vertex_counts, stats.vertex_counts) and sum(corpus.shard_words) == stats.tokens
    again = ShardedCorpus.load(StageFiles("walks_us", corpus.shards[0].parent))
    assert again.shard_words == corpus.shard_words and again.shards == corpus.shards


@pytest.mark.parametrize("trainer", ["gensim", "numba"])
def test_interrupted_training_resumes_to_identical_vectors(corpus, tmp_path, trainer):
    whole = train_skipgram_resumable(corpus, PARAMS, tmp_path / "a", trainer=trainer)
    assert whole.complete and whole.units_total == 8 and whole.units_reused == 0

    first = train_skipgram_resumable(corpus, PARAMS, tmp_path / "b", max_units=3, trainer=trainer)  # "killed" after 3 shards
    assert not first.complete and first.vectors is None and first.units_trained == 3
    second = train_skipgram_resumable(corpus, PARAMS, tmp_path / "b", max_units=2, trainer=trainer)
    assert (second.units_reused, second.units_trained, second.complete) == (3, 2, False)
    third = train_skipgram_resumable(corpus, PARAMS, tmp_path / "b", trainer=trainer)
    assert third.complete and third.units_reused == 5 and third.units_trained == 3
    assert np.array_equal(third.vectors, whole.vectors)  # bit for bit
    if trainer == "gensim":  # (the numba trainer drops its tree's matrix once finished)
        assert np.array_equal(third.model.syn1, whole.model.syn1)
    # The time of every unit is carried over the interruptions: 3 + 2 + 3 units, each timed once.
    assert len(third.unit_seconds) == len(third.checkpoint_seconds) == 8
    assert third.unit_seconds[:5] == second.unit_seconds and second.unit_seconds[:3] == first.unit_seconds
    assert all(t > 0 for t in third.unit_seconds)


@pytest.mark.parametrize("trainer", ["gensim", "numba"])
def test_passes_written_as_parts_train_the_vectors_of_passes_written_whole(corpus, tmp_path, trainer):
    """Spark's walk tasks write each pass as a folder of parts: both trainers train on it the model they train on the
    one-file passes (gensim on a joined copy, gone once its pass is trained)."""
    parts = tmp_path / "parts"
    for p in corpus.shards:
        lines = p.read_bytes().splitlines(keepends=True)
        (parts / p.name).mkdir(parents=True)
        for first in range(0, len(lines), 7):  # 7 walks a part, as a task writes a batch of start vertices
            (parts / p.name / f"part-{first:012d}.txt").write_bytes(b"".join(lines[first:first + 7]))
    in_parts = ShardedCorpus([parts / p.name for p in corpus.shards], corpus.shard_words, corpus.vertex_counts)
    assert len(list((parts / corpus.shards[0].name).iterdir())) == 6  # 40 walks a pass
    whole = train_skipgram_resumable(corpus, PARAMS, tmp_path / "a", trainer=trainer)
    split = train_skipgram_resumable(in_parts, PARAMS, tmp_path / "b", trainer=trainer)
    assert split.complete and np.array_equal(split.vectors, whole.vectors)
    assert not list((tmp_path / "b").rglob(".walks-*"))  # no joined copy left behind


def test_changed_config_never_reuses_checkpoints(corpus, tmp_path):
    train_skipgram_resumable(corpus, PARAMS, tmp_path / "c", max_units=4)
    other = SkipGramParams(dimensions=8, workers=1, epochs=2, seed=3, window=3)
    result = train_skipgram_resumable(corpus, other, tmp_path / "c", max_units=1)
    assert result.units_reused == 0
    assert len([p for p in (tmp_path / "c").iterdir() if p.is_dir()]) == 1  # the stale key's checkpoints are gone
    resumed = train_skipgram_resumable(corpus, PARAMS, tmp_path / "c", max_units=1)
    assert resumed.units_reused == 0  # the first config's checkpoints were deleted, not kept
    numba = train_skipgram_resumable(corpus, PARAMS, tmp_path / "c", max_units=1, trainer="numba")
    assert numba.units_reused == 0  # another trainer's weights are never resumed from


@pytest.mark.parametrize("trainer", ["gensim", "numba"])
@pytest.mark.parametrize("cut_at_a_line_end", [True, False])
def test_a_walk_file_shorter_than_its_index_is_refused(corpus, tmp_path, trainer, cut_at_a_line_end):
    short = tmp_path / "short"
    short.mkdir()
    for p in corpus.shards:
        (short / p.name).write_bytes(p.read_bytes())
    text = (short / corpus.shards[1].name).read_bytes()
    end = text.index(b"\n", len(text) // 2) + 1 if cut_at_a_line_end else len(text) // 2  # (as truncate -s 50% cuts)
    (short / corpus.shards[1].name).write_bytes(text[:end])
    cut = ShardedCorpus([short / p.name for p in corpus.shards], corpus.shard_words, corpus.vertex_counts)
    why = (f"but the walk index records {corpus.shard_words[1]:,}" if cut_at_a_line_end else
           "has no newline at its end \\(a truncated walk file\\)")
    with pytest.raises(WalkFileError, match=f"{corpus.shards[1].name}: .*{why}"):
        train_skipgram_resumable(cut, PARAMS, tmp_path / "e", trainer=trainer)


def test_checkpoints_hold_only_what_training_changes_and_whole_model_checkpoints_still_resume(corpus, tmp_path):
    whole = train_skipgram_resumable(corpus, PARAMS, tmp_path / "a")
    first = train_skipgram_resumable(corpus, PARAMS, tmp_path / "b", max_units=3)
    (folder,) = [p for p in (tmp_path / "b").iterdir() if p.is_dir()]
    ckpt = folder / "ckpt-0003"
    assert sorted(p.name for p in ckpt.iterdir()) == ["random_keys.npy", "state.json", "syn1.npy", "vectors.npy"]
    assert (folder / "skeleton" / "model.gensim").exists()
    # A checkpoint as the first version wrote it (the whole model, no skeleton) resumes too.
    for p in ckpt.iterdir():
        p.unlink()
    first.model.save(str(ckpt / "model.gensim"))
    for p in (folder / "skeleton").iterdir():
        p.unlink()
    (folder / "skeleton").rmdir()
    rest = train_skipgram_resumable(corpus, PARAMS, tmp_path / "b")
    assert rest.units_reused == 3 and rest.complete
    assert np.array_equal(rest.vectors, whole.vectors)


def test_a_time_budget_stops_before_a_shard_that_would_overrun_it():
    # 100 s for 1M words so far: a 0.5M-word shard would take 50 s more.
    assert shard_fits(100.0, 1_000_000, 500_000, max_seconds=150.0)
    assert not shard_fits(100.0, 1_000_000, 500_000, max_seconds=149.0)
    # past the budget nothing more fits, and with no rate measured yet only the clock decides
    assert not shard_fits(151.0, 1_000_000, 1, max_seconds=150.0)
    assert shard_fits(0.0, 0, 10**9, max_seconds=150.0)


def test_a_training_in_progress_keeps_its_checkpoint(corpus, tmp_path):
    first = train_skipgram_resumable(corpus, PARAMS, tmp_path / "d", max_units=1)
    held = FileLock(f"{first.checkpoint}.lock")  # as a run still training from it holds it
    held.acquire()
    try:
        other = SkipGramParams(dimensions=8, workers=1, epochs=2, seed=3, window=3)
        train_skipgram_resumable(corpus, other, tmp_path / "d", max_units=1)
        assert (first.checkpoint / "state.json").exists()  # not taken for stale
        with pytest.raises(RuntimeError, match="another process is training"):
            train_skipgram_resumable(corpus, PARAMS, tmp_path / "d", max_units=1)
    finally:
        held.release()
    resumed = train_skipgram_resumable(corpus, PARAMS, tmp_path / "d", max_units=1)
    assert resumed.units_reused == 1
    assert len([p for p in (tmp_path / "d").iterdir() if p.is_dir()]) == 1  # the other key's, unheld now, is gone
