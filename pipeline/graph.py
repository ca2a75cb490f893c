"""The networks DeepWalk embeds (paper, Section 3.2), as CSR adjacency plus a vertex table.

- user-session-song (USS): an edge from each user to each of their sessions, and from each session
  to each distinct song in it;
- user-song (U-S), the baseline network: an edge from each user to each distinct song they played.

Both are undirected and unweighted. Vertices are numbered users, then sessions, then songs, each
block in sorted key order; the vertex table maps a vertex to its kind and original id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.io import atomic_path

USER, SESSION, SONG = "user", "session", "song"


@dataclass
class Graph:
    indptr: np.ndarray  # int64, n_vertices + 1
    indices: np.ndarray  # int32, neighbours
    vertices: pl.DataFrame  # vertex (int), kind (str), key (str)

    @property
    def n_vertices(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_edges(self) -> int:
        """Undirected edges (each stored twice in CSR)."""
        return len(self.indices) // 2

    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def vertex_ids(self, kind: str) -> np.ndarray:
        return self.vertices.filter(pl.col("kind") == kind)["vertex"].to_numpy()

    def index_of(self, kind: str) -> dict[str, int]:
        block = self.vertices.filter(pl.col("kind") == kind)
        return dict(zip(block["key"].to_list(), block["vertex"].to_list()))

    def has_edges(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether each pair (a[i], b[i]) is an edge (neighbour lists are sorted)."""
        out = np.empty(len(a), dtype=bool)
        for i, (u, v) in enumerate(zip(a, b)):
            row = self.indices[self.indptr[u] : self.indptr[u + 1]]
            j = np.searchsorted(row, v)
            out[i] = j < len(row) and row[j] == v
        return out

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "adjacency.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, indptr=self.indptr, indices=self.indices)
        with atomic_path(directory / "vertices.parquet") as tmp:
            self.vertices.write_parquet(tmp)

    @classmethod
    def load(cls, directory: Path | str) -> "Graph":
        directory = Path(directory)
        with np.load(directory / "adjacency.npz") as z:
            indptr, indices = z["indptr"], z["indices"]
        return cls(indptr=indptr, indices=indices, vertices=pl.read_parquet(directory / "vertices.parquet"))


def _vertex_block(keys: pl.Series, kind: str, offset: int) -> pl.DataFrame:
    keys = keys.cast(pl.String).unique().sort()
    return pl.DataFrame(
        {
            "vertex": np.arange(offset, offset + keys.len(), dtype=np.int64),
            "kind": [kind] * keys.len(),
            "key": keys,
        }
    )


def _from_edges(src: np.ndarray, dst: np.ndarray, vertices: pl.DataFrame) -> Graph:
    n = vertices.height
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    adj = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    adj.sum_duplicates()
    adj.sort_indices()
    return Graph(indptr=adj.indptr.astype(np.int64), indices=adj.indices.astype(np.int32), vertices=vertices)


def _lookup(frame: pl.DataFrame, column: str, block: pl.DataFrame) -> np.ndarray:
    mapping = block.select(pl.col("key").alias(column), "vertex")
    return frame.select(pl.col(column).cast(pl.String)).join(mapping, on=column, how="left", maintain_order="left")[
        "vertex"
    ].to_numpy()


def user_session_song_graph(train: pl.DataFrame) -> Graph:
    """USS network from train events (columns user_id, session_id, song_id)."""
    users = _vertex_block(train["user_id"], USER, 0)
    sessions = _vertex_block(train["session_id"], SESSION, users.height)
    songs = _vertex_block(train["song_id"], SONG, users.height + sessions.height)
    us = train.select("user_id", "session_id").unique()
    ss = train.select("session_id", "song_id").unique()
    src = np.concatenate([_lookup(us, "user_id", users), _lookup(ss, "session_id", sessions)])
    dst = np.concatenate([_lookup(us, "session_id", sessions), _lookup(ss, "song_id", songs)])
    return _from_edges(src, dst, pl.concat([users, sessions, songs]))


def user_song_graph(train: pl.DataFrame) -> Graph:
    """U-S network from train events (columns user_id, song_id)."""
    users = _vertex_block(train["user_id"], USER, 0)
    songs = _vertex_block(train["song_id"], SONG, users.height)
    pairs = train.select("user_id", "song_id").unique()
    return _from_edges(_lookup(pairs, "user_id", users), _lookup(pairs, "song_id", songs), pl.concat([users, songs]))
