"""The networks DeepWalk embeds (paper, Section 3.2), as CSR adjacency plus a vertex table.

- user-session-song (USS): an edge from each user to each of their sessions, and from each session
  to each distinct song in it;
- user-song (U-S), the baseline network: an edge from each user to each distinct song they played.

Both are undirected and unweighted. Vertices are numbered users, then sessions, then songs, each
block in sorted key order; the vertex table maps a vertex to its kind and original id.

The local engine writes the adjacency as one ``.npz`` (``indptr``, ``indices``); Spark's tasks each write a block of
it, the rows of a range of vertices (``adjacency_block``), into a folder; ``load_adjacency`` reads either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.contract import NETWORKS, SESSION, SONG, USER, Log, StageFiles, Upstream
from pipeline.io import atomic_path, dataset_parts
from pipeline.sparse import codes, sorted_pairs

KEY_COLUMN = {USER: "user_id", SESSION: "session_id", SONG: "song_id"}  # the event column each kind of vertex is keyed by


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

    def save(self, files: Mapping[str, Path]) -> None:
        """Write ``files["adjacency"]`` (CSR) and ``files["vertices"]`` (a graph stage's files)."""
        with atomic_path(files["adjacency"]) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, indptr=self.indptr, indices=self.indices)
        with atomic_path(files["vertices"]) as tmp:
            self.vertices.write_parquet(tmp)

    @classmethod
    def load(cls, files: Mapping[str, Path]) -> "Graph":
        indptr, indices = load_adjacency(files["adjacency"])
        return cls(indptr=indptr, indices=indices, vertices=pl.read_parquet(files["vertices"]))


def adjacency_block(src: np.ndarray, dst: np.ndarray, n_vertices: int) -> dict[str, np.ndarray]:
    """A block of a CSR adjacency of ``n_vertices``, from directed edges sorted by (src, dst) whose sources are a range
    of vertices none of which has an edge outside it: the first vertex, each vertex's degree from there on, and the
    neighbours in order."""
    src = np.asarray(src, dtype=np.int64)
    if len(src) > 1 and (np.diff(src) < 0).any():
        raise ValueError("an adjacency block needs its edges sorted by source")
    first = int(src[0]) if len(src) else 0
    degree = np.bincount(src - first) if len(src) else np.zeros(0, np.int64)
    return {"n_vertices": np.int64(n_vertices), "first": np.int64(first), "degree": degree.astype(np.int64),
            "indices": np.asarray(dst).astype(np.int32)}


def adjacency_vertices(path: Path | str) -> int:
    """The vertices of a saved adjacency (one file or a folder of blocks), without reading its edges."""
    path = Path(path)
    with np.load(dataset_parts(path, ".npz")[0] if path.is_dir() else path) as z:
        return int(z["n_vertices"]) if path.is_dir() else len(z["indptr"]) - 1


def load_adjacency(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``indptr`` (int64) and ``indices`` (int32) from one ``.npz`` or a folder of ``adjacency_block`` parts (in
    any order; a vertex no block holds has no neighbours). Blocks that overlap or disagree are refused."""
    path = Path(path)
    if not path.is_dir():
        with np.load(path) as z:
            return z["indptr"], z["indices"]
    parts, heads = dataset_parts(path, ".npz"), []
    for part in parts:
        with np.load(part) as z:
            heads.append((int(z["first"]), int(z["n_vertices"]), z["degree"], part))
    heads.sort(key=lambda h: h[0])
    n = heads[0][1]
    degree, covered = np.zeros(n, np.int64), 0
    for first, total, deg, part in heads:
        if total != n or first < covered or first + len(deg) > n:
            raise ValueError(f"{part}: vertices {first:,}-{first + len(deg) - 1:,} of {total:,} overlap another block "
                             f"or lie outside the {n:,} vertices")
        degree[first:first + len(deg)] = deg
        covered = first + len(deg)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(degree, out=indptr[1:])
    indices, at = np.empty(int(indptr[-1]), np.int32), 0
    for _, _, deg, part in heads:
        with np.load(part) as z:
            block = z["indices"]
        if len(block) != int(deg.sum()):
            raise ValueError(f"{part}: {len(block):,} neighbours where its degrees add up to {int(deg.sum()):,}")
        indices[at:at + len(block)] = block
        at += len(block)
    return indptr, indices


def graph_summary(files: Mapping[str, Path]) -> dict:
    """What a graph stage wrote, for its asset: vertices, edges, mean degree, isolated vertices, and the vertices by
    kind (a table)."""
    graph = Graph.load(files)
    degree = graph.degree()
    return {"vertices": graph.n_vertices, "edges": graph.n_edges, "mean degree": float(degree.mean()),
            "isolated vertices": int((degree == 0).sum()), "vertices by kind": graph.vertices.group_by("kind", maintain_order=True).len()}


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
    """Undirected CSR from edge lists (duplicates allowed), neighbour lists sorted, in numpy alone:
    edges are packed into one int64 key each and sorted (at paper scale about a third of the memory
    of scipy's COO-to-CSR conversion)."""
    n = vertices.height
    a, b = sorted_pairs(src, dst, n)
    keys = np.concatenate([a * n + b, b * n + a])
    del a, b
    keys.sort()
    if len(keys) > 1:
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # an edge given both ways
    rows, cols = np.divmod(keys, n)
    del keys
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return Graph(indptr=indptr, indices=cols.astype(np.int32), vertices=vertices)


def _codes(values: pl.Series, block: pl.DataFrame) -> np.ndarray:
    """The vertex of each value, a key of ``block`` (whose vertices are consecutive in key order)."""
    return codes(values, block["key"]) + (int(block["vertex"][0]) if block.height else 0)


def network_graph(network: str, train: pl.DataFrame) -> Graph:
    """Network ``network`` (``contract.NETWORKS``) of the train events: a block of vertices a kind, in the network's
    order (ids in key order within a block), and an undirected edge for each of its pairs of kinds on every event."""
    shape = NETWORKS[network]
    blocks, offset = {}, 0
    for kind in shape.kinds:
        blocks[kind] = _vertex_block(train[KEY_COLUMN[kind]], kind, offset)
        offset += blocks[kind].height
    src = np.concatenate([_codes(train[KEY_COLUMN[a]], blocks[a]) for a, _ in shape.edges])
    dst = np.concatenate([_codes(train[KEY_COLUMN[b]], blocks[b]) for _, b in shape.edges])
    return _from_edges(src, dst, pl.concat(list(blocks.values())))


def user_session_song_graph(train: pl.DataFrame) -> Graph:
    """USS network from train events (columns user_id, session_id, song_id)."""
    return network_graph("uss", train)


def user_song_graph(train: pl.DataFrame) -> Graph:
    """U-S network from train events (columns user_id, song_id)."""
    return network_graph("us", train)


def graph(network: str, upstream: Upstream, out: StageFiles, log: Log = None) -> dict:
    """The ``graph_<network>`` stage: the network of the train events, saved as CSR and a vertex table."""
    g = network_graph(network, pl.read_parquet(upstream["splits"]["train"], columns=["user_id", "session_id", "song_id"]))
    g.save(out)
    return {"vertices": g.n_vertices, "edges": g.n_edges}
