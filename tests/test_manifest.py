"""A stage's files checked against what it wrote (pipeline.manifest): each kind of stage file cut, changed or
removed after its stage wrote it is caught, naming the file and what differs."""

import json

import numpy as np
import polars as pl
import pytest

from pipeline.manifest import MANIFEST, IntegrityError, verify, write_manifest


@pytest.fixture
def folder(tmp_path):
    """A stage folder with one file of each kind the stages write, and a subfolder (the model's)."""
    pl.DataFrame({"user_id": [f"u{i}" for i in range(1000)], "plays": np.arange(1000)}).write_parquet(tmp_path / "train.parquet")
    np.save(tmp_path / "vectors.npy", np.arange(4000, dtype=np.float32).reshape(1000, 4))
    (tmp_path / "pass-000.txt").write_text("".join(f"{i} {i + 1} {i + 2}\n" for i in range(500)))
    (tmp_path / "params.json").write_text(json.dumps({"epochs": 1, "alpha": 0.025}))
    (tmp_path / "proposed").mkdir()
    (tmp_path / "proposed" / "MLmodel").write_text("flavors: {}\n")
    (tmp_path / ".vectors.npy.partial-1").write_bytes(b"a temporary file of an unfinished write")
    return tmp_path


def test_a_whole_folder_verifies_and_the_manifest_lists_every_file_but_hidden_ones(folder):
    assert write_manifest(folder)["files"] == 5
    assert set(json.loads((folder / MANIFEST).read_text())["files"]) == {
        "train.parquet", "vectors.npy", "pass-000.txt", "params.json", "proposed/MLmodel"}
    assert verify(folder) == 5


@pytest.mark.parametrize("name", ["train.parquet", "vectors.npy", "pass-000.txt", "params.json", "proposed/MLmodel"])
def test_a_file_cut_short_is_named_with_both_sizes(folder, name):
    write_manifest(folder)
    path = folder / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match=f"{path}: {len(data) // 2:,} bytes, but its stage wrote {len(data):,} \\(cut short since\\)"):
        verify(folder)


def test_a_file_changed_in_place_or_removed_is_named(folder):
    write_manifest(folder)
    vectors = np.load(folder / "vectors.npy")
    vectors[3, 1] = np.nan  # same size, other content
    np.save(folder / "vectors.npy", vectors)
    with pytest.raises(IntegrityError, match="vectors.npy: its content differs from what its stage wrote"):
        verify(folder)
    write_manifest(folder)
    (folder / "params.json").unlink()
    with pytest.raises(IntegrityError, match="params.json: missing"):
        verify(folder)


def test_a_folder_without_a_manifest_is_reported_as_unverified(folder):
    assert verify(folder) is None
