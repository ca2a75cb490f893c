"""SKNN's compiled kernels (``pipeline.evaluation.sknn`` is their Python face): the neighbour buffer, the recent-sessions
merge of posting lists, the per-session bit masks of the most-listened songs, and the ranking of a batch of
query song sets (counted by postings or densely; both count the same overlaps)."""

from __future__ import annotations

import numba
import numpy as np


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
