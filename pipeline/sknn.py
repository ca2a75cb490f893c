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

from pipeline.sessions import session_table
from pipeline.sparse import binary_csr, codes

HEAVY = 64  # songs counted by a session's bit mask in the dense count (one uint64 a session)
# A query is counted densely when its postings among the HEAVY songs reach more than this share of the sessions:
# past it a pass over every session costs less than the scattered counts it replaces (measured on the paper-scale
# split; the choice changes only the time, never the neighbours).
DENSE_REACH = 0.1


class SessionKNN:
    """A ``pipeline.methods.Retriever``: similar songs by one-song queries, recommendations by the
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


@numba.njit(cache=True)
def _insert(best_v, best_i, size, cap, v, i):
    """Insert (v, i) into the descending buffer (ties: lower i first); returns the new size."""
    if size == cap:
        last_v, last_i = best_v[cap - 1], best_i[cap - 1]
        if v < last_v or (v == last_v and i > last_i):
            return size
        pos = cap - 1
    else:
        pos = size
        size += 1
    while pos > 0 and (best_v[pos - 1] < v or (best_v[pos - 1] == v and best_i[pos - 1] > i)):
        best_v[pos] = best_v[pos - 1]
        best_i[pos] = best_i[pos - 1]
        pos -= 1
    best_v[pos] = v
    best_i[pos] = i
    return size


@numba.njit(cache=True)
def _sift_down(heap, size, pos):
    """Restore the max-heap below ``pos``."""
    v = heap[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] > heap[child]:
            child += 1
        if heap[child] <= v:
            break
        heap[pos] = heap[child]
        pos = child
    heap[pos] = v


@numba.njit(cache=True)
def _recent_candidates(q_start, q_end, q_indices, rt_indptr, rt_indices, row_of_rank, sample, heap, ptr, stride,
                       overlap, touched):
    """The ``sample`` most recent sessions sharing a song with the query, with their overlaps: a
    merge of the songs' posting lists (recency ranks, ascending) from their ends. Returns how many."""
    size = 0
    for j in range(q_end - q_start):
        song = q_indices[q_start + j]
        if rt_indptr[song + 1] > rt_indptr[song]:
            ptr[j] = rt_indptr[song + 1] - 1
            heap[size] = rt_indices[ptr[j]] * stride + j
            size += 1
    for pos in range(size // 2 - 1, -1, -1):
        _sift_down(heap, size, pos)
    n_touched, last = 0, -1
    while size > 0:
        rank, j = heap[0] // stride, heap[0] % stride
        if rank != last:  # a new session (a session's songs, one per list, come out one after another)
            if n_touched == sample:
                break
            touched[n_touched] = row_of_rank[rank]
            n_touched += 1
            last = rank
        overlap[row_of_rank[rank]] += 1
        ptr[j] -= 1
        if ptr[j] >= rt_indptr[q_indices[q_start + j]]:
            heap[0] = rt_indices[ptr[j]] * stride + j
        else:
            size -= 1
            heap[0] = heap[size]
        _sift_down(heap, size, 0)
    return n_touched


@numba.njit(cache=True)
def _heavy_masks(s_indptr, s_indices, heavy_bit):
    """Each session's bit mask of the heavy songs it holds."""
    n = len(s_indptr) - 1
    masks = np.zeros(n, np.uint64)
    for s in range(n):
        m = np.uint64(0)
        for r in range(s_indptr[s], s_indptr[s + 1]):
            b = heavy_bit[s_indices[r]]
            if b >= 0:
                m |= np.uint64(1) << np.uint64(b)
        masks[s] = m
    return masks


@numba.njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(parallel=True, cache=True)
def _rank_kernel(q_indptr, q_indices, exclude, s_indptr, s_indices, t_indptr, t_indices, inv_norm, by_popularity,
                 popularity_rank, neighbours, out, n_threads, sample, rt_indptr, rt_indices, row_of_rank, stride,
                 heavy_bit, heavy_mask, dense_reach):
    n_q, k = out.shape
    n_sessions = len(s_indptr) - 1
    n_songs = len(t_indptr) - 1
    for t in numba.prange(n_threads):
        overlap = np.zeros(n_sessions, np.int32)
        touched = np.empty(n_sessions, np.int64)
        score = np.zeros(n_songs, np.float64)
        marked = np.zeros(n_songs, np.bool_)
        song_list = np.empty(n_songs, np.int64)
        nb_v = np.empty(neighbours, np.float64)
        nb_i = np.empty(neighbours, np.int64)
        top_v = np.empty(k, np.float64)
        top_i = np.empty(k, np.int64)
        heap = np.empty(stride, np.int64)
        ptr = np.empty(stride, np.int64)
        for q in range(t, n_q, n_threads):
            # 1. overlaps with every session sharing a song (sampling: the most recent of them only)
            reach = 0
            heavy_reach = 0
            for p in range(q_indptr[q], q_indptr[q + 1]):
                song = q_indices[p]
                reach += t_indptr[song + 1] - t_indptr[song]
                if heavy_bit[song] >= 0:
                    heavy_reach += t_indptr[song + 1] - t_indptr[song]
            n_touched = 0
            q_norm = 1.0 / np.sqrt(max(q_indptr[q + 1] - q_indptr[q], 1))
            n_nb = 0
            if sample > 0 and reach > sample:
                n_touched = _recent_candidates(q_indptr[q], q_indptr[q + 1], q_indices, rt_indptr, rt_indices, row_of_rank,
                                               sample, heap, ptr, stride, overlap, touched)
            elif heavy_reach > dense_reach:
                # dense: the heavy songs by mask, the others' postings counted, then every session in order
                q_mask = np.uint64(0)
                for p in range(q_indptr[q], q_indptr[q + 1]):
                    song = q_indices[p]
                    if heavy_bit[song] >= 0:
                        q_mask |= np.uint64(1) << np.uint64(heavy_bit[song])
                    else:
                        for r in range(t_indptr[song], t_indptr[song + 1]):
                            overlap[t_indices[r]] += 1
                # sessions come in index order, so one that only ties the last neighbour loses to it: a session
                # needs more than the last neighbour's similarity once there are enough (and more than 0 before)
                bar = 0.0
                for s in range(n_sessions):
                    v = (overlap[s] + np.int32(_popcount(heavy_mask[s] & q_mask))) * q_norm * inv_norm[s]
                    overlap[s] = 0
                    if v > bar:
                        n_nb = _insert(nb_v, nb_i, n_nb, neighbours, v, s)
                        if n_nb == neighbours:
                            bar = nb_v[neighbours - 1]
            else:
                for p in range(q_indptr[q], q_indptr[q + 1]):
                    song = q_indices[p]
                    for r in range(t_indptr[song], t_indptr[song + 1]):
                        s = t_indices[r]
                        if overlap[s] == 0:
                            touched[n_touched] = s
                            n_touched += 1
                        overlap[s] += 1
            # 2. the most similar sessions (cosine of binary sets)
            for j in range(n_touched):
                s = touched[j]
                n_nb = _insert(nb_v, nb_i, n_nb, neighbours, overlap[s] * q_norm * inv_norm[s], s)
                overlap[s] = 0
            # 3. songs scored by the summed similarity of the neighbours holding them
            n_listed = 0
            for j in range(n_nb):
                s = nb_i[j]
                for r in range(s_indptr[s], s_indptr[s + 1]):
                    song = s_indices[r]
                    if not marked[song]:
                        marked[song] = True
                        song_list[n_listed] = song
                        n_listed += 1
                    score[song] += nb_v[j]
            # 4. the k best scored songs (held as popularity ranks: ties go to the more popular),
            #    then the most popular others
            size = 0
            for j in range(n_listed):
                song = song_list[j]
                if song != exclude[q]:
                    size = _insert(top_v, top_i, size, k, score[song], popularity_rank[song])
            for j in range(size):
                top_i[j] = by_popularity[top_i[j]]
            j = 0
            while size < k:
                song = by_popularity[j]
                j += 1
                if not marked[song] and song != exclude[q]:
                    top_i[size] = song
                    size += 1
            for j in range(n_listed):
                marked[song_list[j]] = False
                score[song_list[j]] = 0.0
            for j in range(k):
                out[q, j] = top_i[j]
