"""Session-based k-nearest-neighbours (SKNN), the session-aware baseline that Ludewig & Jannach's
evaluation of session-based recommenders found hard to beat.

A query is a set of songs (a session, a user's history, or one song). Its neighbours are the
``neighbours`` training sessions most similar to it by cosine similarity of binary song sets; a
song's score is the summed similarity of the neighbours that contain it. Songs no neighbour
contains tie at zero; the tie is broken by train popularity, so every query gets k songs.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.evaluate import _top_k, mask_excluded


def binary_rows(groups: pl.DataFrame, key: str, keys: list[str], songs: list[str]) -> sp.csr_matrix:
    """rows = ``keys`` (values of column ``key``), columns = ``songs``, 1 where the pair occurs in ``groups``."""
    row_index = pl.DataFrame({key: keys, "_r": np.arange(len(keys), dtype=np.int64)})
    song_index = pl.DataFrame({"song_id": songs, "_s": np.arange(len(songs), dtype=np.int64)})
    pairs = groups.select(pl.col(key).cast(pl.String), "song_id").unique().join(row_index, on=key).join(song_index, on="song_id")
    m = sp.csr_matrix(
        (np.ones(pairs.height, dtype=np.float32), (pairs["_r"].to_numpy(), pairs["_s"].to_numpy())),
        shape=(len(keys), len(songs)),
    )
    m.sort_indices()
    return m


class SessionKNN:
    def __init__(self, sessions: sp.csr_matrix, popularity: np.ndarray, neighbours: int = 100) -> None:
        if neighbours < 1:
            raise ValueError("neighbours must be at least 1")
        self.sessions = sessions.astype(np.float32).tocsr()
        self.sessions.data[:] = 1.0
        lengths = np.asarray(self.sessions.sum(axis=1)).ravel()
        self.inv_norm = 1.0 / np.sqrt(np.maximum(lengths, 1.0))
        self.sessions_t = self.sessions.T.tocsr()
        self.neighbours = neighbours
        pop = np.asarray(popularity, dtype=np.float64)
        # A tie-break smaller than any real score: popularity rank scaled into (0, 1e-6).
        self.tie_break = (np.argsort(np.argsort(pop)) + 1) / (len(pop) + 1) * 1e-6

        self.session_row: dict[str, int] = {}
        self.user_songs: sp.csr_matrix | None = None
        self.user_row: dict[str, int] = {}

    @classmethod
    def from_train(cls, train: pl.DataFrame, songs: list[str], popularity: np.ndarray, neighbours: int = 100) -> SessionKNN:
        """The model over the train sessions, knowing each session's and each user's songs."""
        keys = train["session_id"].cast(pl.String).unique().sort().to_list()
        model = cls(binary_rows(train, "session_id", keys, songs), popularity, neighbours)
        model.session_row = {k: i for i, k in enumerate(keys)}
        users = train["user_id"].cast(pl.String).unique().sort().to_list()
        model.user_songs = binary_rows(train, "user_id", users, songs)
        model.user_row = {u: i for i, u in enumerate(users)}
        return model

    def query_sets(self, users: list[str], reference_sessions: list[str | None] | None = None) -> sp.csr_matrix:
        """Each query's song set: its reference session's songs, or (none given) the user's train songs."""
        refs = reference_sessions or [None] * len(users)
        rows = [
            self.sessions[self.session_row[r]] if r is not None else self.user_songs[self.user_row[u]]
            for u, r in zip(users, refs)
        ]
        return sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, self.sessions.shape[1]))

    def similarities(self, queries: sp.csr_matrix) -> sp.csr_matrix:
        """Cosine similarity of each query to its ``neighbours`` most similar sessions (others dropped)."""
        q = queries.astype(np.float32).tocsr()
        q.data[:] = 1.0
        q_norm = 1.0 / np.sqrt(np.maximum(np.diff(q.indptr), 1))
        sim = (sp.diags(q_norm) @ (q @ self.sessions_t) @ sp.diags(self.inv_norm)).tocsr()
        sim.eliminate_zeros()
        indptr, indices, data = [0], [], []
        for i in range(sim.shape[0]):
            lo, hi = sim.indptr[i], sim.indptr[i + 1]
            d, c = sim.data[lo:hi], sim.indices[lo:hi]
            if len(d) > self.neighbours:
                keep = np.argpartition(-d, self.neighbours - 1)[: self.neighbours]
                d, c = d[keep], c[keep]
            data.append(d)
            indices.append(c)
            indptr.append(indptr[-1] + len(d))
        return sp.csr_matrix(
            (np.concatenate(data) if data else np.array([], np.float32), np.concatenate(indices) if indices else np.array([], np.int32), indptr),
            shape=sim.shape,
        )

    def rank(self, queries: sp.csr_matrix, k: int, exclude: np.ndarray | None = None, batch_size: int = 256,
             max_batch_pairs: int = 20_000_000) -> np.ndarray:
        """Top-k songs for each query set, best first; ``exclude[i]`` (or -1) is never returned.

        Equal queries (same songs, same excluded song) are ranked once. Queries go in batches of at
        most ``batch_size`` whose query-session pairs (bounded by the summed session counts of their
        songs) stay under ``max_batch_pairs``, which bounds memory whatever the query sizes.
        """
        queries = queries.tocsr()
        queries.sort_indices()
        first, inverse = _unique_sparse_rows(queries, exclude)
        if len(first) < queries.shape[0]:
            sub_exclude = None if exclude is None else exclude[first]
            return self.rank(queries[first], k, sub_exclude, batch_size, max_batch_pairs)[inverse]
        n_songs = self.sessions.shape[1]
        k = min(k, n_songs - (exclude is not None))
        out = np.empty((queries.shape[0], k), dtype=np.int64)
        sessions_per_song = np.diff(self.sessions_t.indptr)
        pairs = np.minimum(queries.astype(bool).astype(np.int64) @ sessions_per_song, self.sessions.shape[0])
        b = 0
        while b < queries.shape[0]:
            end = b + 1 + int(np.searchsorted(np.cumsum(pairs[b + 1 : b + batch_size]), max_batch_pairs - pairs[b], side="right"))
            weights = self.similarities(queries[b:end])
            scores = (weights @ self.sessions).toarray().astype(np.float64) + self.tie_break
            mask_excluded(scores, None if exclude is None else exclude[b:end])
            out[b:end] = _top_k(scores, k)
            b = end
        return out


def _unique_sparse_rows(m: sp.csr_matrix, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first of each distinct (row pattern, excluded item), and each row's distinct index."""
    seen: dict[bytes, int] = {}
    first, inverse = [], np.empty(m.shape[0], dtype=np.int64)
    for i in range(m.shape[0]):
        key = m.indices[m.indptr[i] : m.indptr[i + 1]].tobytes() + (b"" if exclude is None else int(exclude[i]).to_bytes(8, "little", signed=True))
        j = seen.setdefault(key, len(first))
        if j == len(first):
            first.append(i)
        inverse[i] = j
    return np.asarray(first, dtype=np.int64), inverse
