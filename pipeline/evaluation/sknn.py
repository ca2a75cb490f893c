"""Session-based k-nearest-neighbours (SKNN), the session-aware baseline that Ludewig & Jannach's
evaluation of session-based recommenders found hard to beat.

A query is a set of songs (a session, a user's history, or one song). Its neighbours are the
``neighbours`` training sessions most similar to it by cosine similarity of binary song sets (ties:
the lower session row first); a song's score is the summed similarity of the neighbours that
contain it. Equal scores, and the songs no neighbour contains (which follow), are ordered by train
popularity, so every query gets k songs.

The work is a compiled kernel over the songs' posting lists (sessions containing each song): a
query touches only the sessions that share a song with it, and only the songs of its neighbours.
A query that reaches many sessions through the most-listened songs (a user's query, the songs of
all their train sessions, touches on a big log a large part of the sessions, three quarters of it
through the 64 songs with the longest posting lists) is counted densely instead: its overlap with
those ``HEAVY`` songs is a popcount of a per-session bit mask, the other songs' postings are added
without keeping a list of the sessions touched, and one sequential pass over every session picks
the neighbours. Both ways count the same overlaps and so choose the same neighbours.

With ``sample`` (Ludewig & Jannach's ``sample_size``, their "recent" sampling), the neighbours are
chosen among only the ``sample`` most recent sessions (by start; of equal starts, the later row)
that share a song with the query. The kernel finds them by merging the query songs' posting lists
from their recent ends, so a query's cost is bounded by ``sample`` (times the query's length in
heap steps) however many sessions its songs reach: a user's query, all the songs of their train
sessions, would otherwise touch a large part of a big log's sessions.
"""

from __future__ import annotations

import numba
import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.evaluation.sknn_kernels import _heavy_masks, _rank_kernel
from pipeline.sessions.sessions import session_table
from pipeline.sparse import binary_csr, codes

HEAVY = 64  # songs counted by a session's bit mask in the dense count (one uint64 a session)
# A query is counted densely when its postings among the HEAVY songs reach more than this share of the sessions:
# past it a pass over every session costs less than the scattered counts it replaces (measured on the paper-scale
# split; the choice changes only the time, never the neighbours).
DENSE_REACH = 0.1


class SessionKNN:
    """A ``pipeline.evaluation.methods.Retriever``: similar songs by one-song queries, recommendations by the
    user's train songs or by a reference session's songs."""

    name = "SKNN"
    session_aware = True

    def __init__(self, sessions: sp.csr_matrix, popularity: np.ndarray, neighbours: int = 100, sample: int = 0,
                 recency: np.ndarray | None = None) -> None:
        if neighbours < 1:
            raise ValueError("neighbours must be at least 1")
        if sample < 0 or (sample and recency is None):
            raise ValueError("sample must be 0 (every session) or a positive number of sessions, with each session's recency")
        self.sessions = sessions.astype(np.float32).tocsr()
        self.sessions.sum_duplicates()
        self.sessions.sort_indices()
        self.sessions.data[:] = 1.0
        lengths = np.diff(self.sessions.indptr)
        self.inv_norm = 1.0 / np.sqrt(np.maximum(lengths, 1.0))
        self.sessions_t = self.sessions.T.tocsr()
        self.sessions_t.sort_indices()
        # The HEAVY songs with the longest posting lists (ties: the lower index), each a bit of its sessions' masks.
        posting_lengths = np.diff(self.sessions_t.indptr)
        heavy = np.argsort(-posting_lengths, kind="stable")[: min(HEAVY, len(posting_lengths))]
        self.heavy_bit = np.full(len(posting_lengths), -1, dtype=np.int64)
        self.heavy_bit[heavy] = np.arange(len(heavy))
        self.heavy_mask = _heavy_masks(self.sessions.indptr.astype(np.int64), self.sessions.indices, self.heavy_bit)
        self.neighbours, self.sample = neighbours, sample
        # Posting lists of recency ranks (ascending, so the most recent last), and each rank's row.
        order = np.lexsort((np.arange(self.sessions.shape[0]), np.asarray(recency))) if sample else np.arange(self.sessions.shape[0])
        self.row_of_rank = order.astype(np.int64)
        self.recent_t = self.sessions[order].T.tocsr() if sample else None
        if sample:
            self.recent_t.sort_indices()
        pop = np.asarray(popularity, dtype=np.float64)
        # Untouched songs in order of popularity; among equal popularity the higher index first
        # (the order of a stable ascending sort, reversed).
        self.by_popularity = np.argsort(pop, kind="stable")[::-1].copy()
        self.popularity_rank = np.empty_like(self.by_popularity)
        self.popularity_rank[self.by_popularity] = np.arange(len(pop))

        self.session_row: dict[str, int] = {}
        self.user_songs: sp.csr_matrix | None = None
        self.user_row: dict[str, int] = {}

    @classmethod
    def from_train(cls, train: pl.DataFrame, songs: list[str], popularity: np.ndarray, neighbours: int = 100,
                   sample: int = 0) -> SessionKNN:
        """The model over the train sessions, knowing each session's and each user's songs (and, to sample, its start)."""
        song_keys = pl.Series(songs, dtype=pl.String)
        song = codes(train["song_id"], song_keys)
        session_keys = train["session_id"].cast(pl.String).unique().sort()
        user_keys = train["user_id"].cast(pl.String).unique().sort()
        session = codes(train["session_id"], session_keys)
        starts = None
        if sample:  # each session's start, in session_keys' order (session_table sorts by session id too)
            table = session_table(train.with_columns(pl.col("session_id").cast(pl.String))).collect()
            starts = table["start"].dt.epoch("us").to_numpy()
        model = cls(binary_csr(session, song, (session_keys.len(), len(songs))), popularity, neighbours, sample, starts)
        model.session_row = dict(zip(session_keys.to_list(), range(session_keys.len())))
        model.user_songs = binary_csr(codes(train["user_id"], user_keys), song, (user_keys.len(), len(songs)))
        model.user_row = dict(zip(user_keys.to_list(), range(user_keys.len())))
        return model

    def similar_songs(self, songs: np.ndarray, k: int) -> np.ndarray:
        """Experiment 1: each query is one song, never returned."""
        n = len(songs)
        one_song = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), songs)), shape=(n, self.sessions.shape[1]))
        return self.rank(one_song, k, exclude=songs)

    def recommend(self, users: list[str], k: int, sessions: list[str | None] | None = None) -> np.ndarray:
        """Experiment 2: each user's train songs, or (given) each reference session's songs."""
        return self.rank(self.query_sets(users, sessions), k)

    def query_sets(self, users: list[str], reference_sessions: list[str | None] | None = None) -> sp.csr_matrix:
        """Each query's song set: its reference session's songs, or (none given) the user's train songs."""
        refs = reference_sessions or [None] * len(users)
        by_session = np.array([r is not None for r in refs], dtype=bool)
        session_rows = np.array([self.session_row[r] for r in refs if r is not None], dtype=np.int64)
        user_rows = np.array([self.user_row[u] for u, r in zip(users, refs) if r is None], dtype=np.int64)
        stacked = sp.vstack([self.sessions[session_rows], self.user_songs[user_rows]], format="csr")
        # stacked holds the session-referenced queries first: put every query back in its place
        position = np.empty(len(refs), dtype=np.int64)
        position[by_session] = np.arange(by_session.sum())
        position[~by_session] = by_session.sum() + np.arange((~by_session).sum())
        return stacked[position]

    def rank(self, queries: sp.csr_matrix, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """Top-k songs for each query set, best first; ``exclude[i]`` (or -1) is never returned.

        Equal queries (same songs, same excluded song) are ranked once.
        """
        queries = sp.csr_matrix(queries)
        queries.sum_duplicates()
        queries.sort_indices()
        n_songs = self.sessions.shape[1]
        if queries.shape[1] != n_songs:
            raise ValueError(f"queries have {queries.shape[1]} song columns, the model {n_songs}")
        excl = np.full(queries.shape[0], -1, dtype=np.int64) if exclude is None else np.asarray(exclude, dtype=np.int64)
        first, inverse = _unique_sparse_rows(queries, excl)
        k = min(k, n_songs - (exclude is not None))
        sub = queries[first]
        postings = (self.sessions_t.indptr.astype(np.int64), self.sessions_t.indices)
        recent = (self.recent_t.indptr.astype(np.int64), self.recent_t.indices) if self.sample else postings
        out = np.empty((len(first), k), dtype=np.int64)
        _rank_kernel(
            sub.indptr.astype(np.int64), sub.indices.astype(np.int64), excl[first],
            self.sessions.indptr.astype(np.int64), self.sessions.indices,
            *postings, self.inv_norm, self.by_popularity, self.popularity_rank, self.neighbours, out,
            max(1, min(numba.get_num_threads(), len(first))),
            self.sample, *recent, self.row_of_rank, int(np.diff(sub.indptr).max(initial=0)) + 1,
            self.heavy_bit, self.heavy_mask, int(DENSE_REACH * self.sessions.shape[0]),
        )
        return out[inverse]


def _unique_sparse_rows(m: sp.csr_matrix, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first of each distinct (row pattern, excluded item), and each row's distinct index."""
    seen: dict[bytes, int] = {}
    first, inverse = [], np.empty(m.shape[0], dtype=np.int64)
    for i in range(m.shape[0]):
        key = m.indices[m.indptr[i] : m.indptr[i + 1]].tobytes() + int(exclude[i]).to_bytes(8, "little", signed=True)
        j = seen.setdefault(key, len(first))
        if j == len(first):
            first.append(i)
        inverse[i] = j
    return np.asarray(first, dtype=np.int64), inverse
