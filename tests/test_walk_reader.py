"""The walk corpus read back as int32 matrices (pipeline.network.walk_reader): the walks written, in order, and bad files
refused naming the file and line."""

import numpy as np
import pytest

from pipeline.network.walk_reader import WalkFileError, read_walk_blocks
from pipeline.network.walks import walk_text


def test_the_walks_come_back_in_order_across_chunk_ends(tmp_path):
    rng = np.random.default_rng(0)
    walks = rng.integers(0, 100_000, (500, 12)).astype(np.int32)
    walks[7, 5:] = -1  # a walk that ended early (an isolated vertex's)
    path = tmp_path / "walks.txt"
    path.write_bytes(walk_text(walks))
    blocks = list(read_walk_blocks(path, 100_000, chunk_bytes=1000))  # cuts fall inside lines
    assert len(blocks) > 5
    np.testing.assert_array_equal(np.concatenate(blocks), walks)


def test_a_hand_written_file(tmp_path):
    path = tmp_path / "w.txt"
    path.write_bytes(b"3 1 4\n1 5\n9\n")
    (block,) = read_walk_blocks(path, 10)
    assert block.dtype == np.int32
    assert block.tolist() == [[3, 1, 4], [1, 5, -1], [9, -1, -1]]


@pytest.mark.parametrize("text, message", [
    (b"1 2\n3 x\n", "line 2: byte b'x'"),
    (b"1 2\n3 4", "line 2 has no newline at its end"),
    (b"1 2\n3 10\n", "line 2: a vertex id beyond the 10 vertices"),
    (b"1 99999999999\n", "line 1: byte b'9'"),
])
def test_bad_files_are_refused_naming_the_line(tmp_path, text, message):
    path = tmp_path / "w.txt"
    path.write_bytes(text)
    with pytest.raises(WalkFileError, match=message) as e:
        list(read_walk_blocks(path, 10))
    assert str(path) in str(e.value)
