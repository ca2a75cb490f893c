"""Every retrieval method behind one interface, in the spirit of implicit's recommenders.

A method ranks the song catalogue (train songs, in sorted id order, as every space numbers them):

- ``similar_songs(songs, k)``: for each query song (a catalogue index), the k most similar other
  songs (Experiment 1; the query song itself is never returned);
- ``recommend(users, k, sessions=None)``: for each listener, k songs (Experiment 2). With
  ``sessions`` (a reference session id per query, or None to fall back to the user), a
  ``session_aware`` method queries with the session instead of the user.

Here: the latent spaces (DeepWalk's and MF's, by nearest songs), popularity and random; SKNN
(``pipeline.evaluation.sknn``) follows the same interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import polars as pl

from pipeline.defaults import STREAM_RANDOM_RANKER
from pipeline.evaluation.nearest import DOT, nearest
from pipeline.network.graph import SESSION, SONG, USER, Graph

COSINE = "cosine"
SIMILARITIES = (COSINE, DOT)  # the variants a space can be searched with besides its own metric


class Retriever(Protocol):
    name: str
    session_aware: bool  # can recommend for a reference session as well as for a user

    def similar_songs(self, songs: np.ndarray, k: int) -> np.ndarray: ...

    def recommend(self, users: list[str], k: int, sessions: list[str | None] | None = None) -> np.ndarray: ...


@dataclass
class Space:
    """A space where songs and listeners live: songs in catalogue order, users (and sessions) by id."""

    name: str
    metric: str
    songs: np.ndarray  # n_songs x d, in catalogue order
    users: dict[str, np.ndarray] | None = None  # user_id -> vector
    sessions: dict[str, np.ndarray] | None = None  # str(session_id) -> vector (user-session-song space)
    search: Callable[..., np.ndarray] = nearest  # exact nearest songs: nearest()'s signature and answers (an engine's own)
    unit_queries: bool = False  # queries scaled to unit length before the search (cosine: with unit-length songs, by DOT)

    @property
    def session_aware(self) -> bool:
        return self.sessions is not None

    @classmethod
    def from_graph(cls, name: str, metric: str, vectors: np.ndarray, graph: Graph, songs: list[str],
                   with_sessions: bool = False, search: Callable[..., np.ndarray] = nearest) -> Space:
        """A DeepWalk space: the vertex vectors of ``graph`` laid out by kind (songs in ``songs`` order)."""
        song_block = graph.vertices.filter(pl.col("kind") == SONG)
        if song_block["key"].to_list() != songs:
            raise ValueError(f"{name}: the graph's songs differ from the train catalogue; rematerialize the graph")

        def block(kind: str) -> dict[str, np.ndarray]:
            b = graph.vertices.filter(pl.col("kind") == kind)
            return dict(zip(b["key"].to_list(), vectors[b["vertex"].to_numpy()]))

        return cls(name, metric, vectors[song_block["vertex"].to_numpy()], users=block(USER),
                   sessions=block(SESSION) if with_sessions else None, search=search)

    @classmethod
    def from_factors(cls, name: str, metric: str, user_factors: np.ndarray, item_factors: np.ndarray, users: list[str],
                     search: Callable[..., np.ndarray] = nearest) -> Space:
        """A matrix factorisation's space: item factors in catalogue order, user factors in ``users`` order."""
        return cls(name, metric, item_factors, users=dict(zip(users, user_factors)), search=search)

    def with_similarity(self, similarity: str) -> Space:
        """The same vectors searched by ``cosine`` or ``dot`` (inner product), named ``<name>/<similarity>``."""
        if similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {similarity!r}: expected one of {', '.join(SIMILARITIES)}")
        if similarity == COSINE:
            return replace(self, name=f"{self.name}/{COSINE}", metric=DOT, songs=unit_rows(self.songs), unit_queries=True)
        return replace(self, name=f"{self.name}/{DOT}", metric=DOT)

    def similar_songs(self, songs: np.ndarray, k: int) -> np.ndarray:
        return self._search(self.songs[songs], k, exclude=songs)

    def recommend(self, users: list[str], k: int, sessions: list[str | None] | None = None) -> np.ndarray:
        if sessions is None:
            vectors = np.stack([self.users[u] for u in users])
        else:
            vectors = np.stack([self.sessions[str(s)] if s is not None else self.users[u] for s, u in zip(sessions, users)])
        return self._search(vectors, k)

    def _search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        return self.search(unit_rows(queries) if self.unit_queries else queries, self.songs, k, self.metric, exclude=exclude)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero), in float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1).astype(np.float32)


@dataclass
class Popularity:
    """The same ranking for everyone: the songs by train play count (ties: the lower index first)."""

    counts: np.ndarray  # train play count of each catalogue song
    name: str = "popularity"
    session_aware: bool = False

    def similar_songs(self, songs: np.ndarray, k: int) -> np.ndarray:
        return ranked_by_score(self.counts, len(songs), k, exclude=songs)

    def recommend(self, users: list[str], k: int, sessions=None) -> np.ndarray:
        return ranked_by_score(self.counts, len(users), k)


@dataclass
class RandomSongs:
    """k distinct random songs per query, the same seeded stream for each call."""

    n_songs: int
    seed: int
    name: str = "random"
    session_aware: bool = False

    def similar_songs(self, songs: np.ndarray, k: int) -> np.ndarray:
        return random_ranking(self.n_songs, len(songs), k, self.seed, exclude=songs)

    def recommend(self, users: list[str], k: int, sessions=None) -> np.ndarray:
        return random_ranking(self.n_songs, len(users), k, self.seed)


def ranked_by_score(scores: np.ndarray, n_queries: int, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """The same ranking for every query (popularity), skipping each query's excluded item."""
    ranking = np.argsort(-scores, kind="stable")[: k + 1]
    top = np.tile(ranking, (n_queries, 1))
    if exclude is None:
        return top[:, :k]
    keep = top != exclude[:, None]
    # Each row drops its excluded item if present, else its (k+1)-th item.
    keep[~(~keep).any(axis=1), k] = False
    return top[keep].reshape(n_queries, k)


def random_ranking(n_items: int, n_queries: int, k: int, seed: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """``k`` distinct random items per query (seeded), never the excluded one."""
    rng = np.random.default_rng([seed, STREAM_RANDOM_RANKER])
    keys = rng.random((n_queries, n_items), dtype=np.float32) if n_items * n_queries <= 50_000_000 else None
    if keys is not None:
        if exclude is not None:
            rows = np.flatnonzero(exclude >= 0)
            keys[rows, exclude[rows]] = -1.0
        return _top_k(keys, k)
    out = np.empty((n_queries, k), dtype=np.int64)
    for i in range(n_queries):
        picks = rng.choice(n_items, size=k + 1, replace=False)
        if exclude is not None:
            picks = picks[picks != exclude[i]]
        out[i] = picks[:k]
    return out


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
