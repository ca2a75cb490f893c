"""The evaluation's queries (paper, Section 4.3): test sessions sampled, their relevant songs, and
the reference session of each (the user's latest training session on the same device).

Experiment 1, similar-song retrieval: the first song of a test session is the query; the other
distinct songs of that session are relevant; the query song itself is never retrieved.
Experiment 2, recommendation: every distinct song of the test session is relevant; nothing is
excluded (people replay songs they know).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline import defaults


@dataclass
class TestQueries:
    sessions: pl.DataFrame  # session_id, user_id, device, start, query_song (index)
    exp1_relevant: sp.csr_matrix  # queries x songs
    exp2_relevant: sp.csr_matrix
    n_sessions_total: int

    @property
    def n(self) -> int:
        return self.sessions.height

    def sample(self, n: int, seed: int, stream: int) -> TestQueries:
        """A seeded sample of ``n`` of these queries (in their order), or these queries if there are no more than ``n``."""
        if n >= self.n:
            return self
        keep = np.sort(np.random.default_rng([seed, stream]).choice(self.n, size=n, replace=False))
        return TestQueries(self.sessions[keep], self.exp1_relevant[keep], self.exp2_relevant[keep], self.n_sessions_total)


def build_queries(
    test: pl.DataFrame,
    songs: list[str],
    max_sessions: int = defaults.MAX_TEST_SESSIONS,
    seed: int = defaults.SEED,
) -> TestQueries:
    """Sample up to ``max_sessions`` test sessions (seeded) and their relevant songs.

    ``songs`` is the catalogue of songs that can be retrieved (the train songs), in column order.
    """
    song_index = pl.DataFrame({"song_id": songs, "song": np.arange(len(songs), dtype=np.int64)})
    events = test.join(song_index, on="song_id", how="inner").sort(["session_id", "timestamp"], maintain_order=True)
    if events.height != test.height:
        raise ValueError(f"{test.height - events.height} test events have songs outside the catalogue")
    sessions = events.group_by("session_id", maintain_order=True).agg(
        pl.col("user_id").first(),
        pl.col("device").first(),
        pl.col("timestamp").first().alias("start"),
        pl.col("song").first().alias("query_song"),
    )
    total = sessions.height
    if total > max_sessions:
        keep = np.sort(np.random.default_rng([seed, defaults.STREAM_TEST_SAMPLE]).choice(total, size=max_sessions, replace=False))
        sessions = sessions[keep]
    sessions = sessions.with_row_index("q")
    pairs = events.join(sessions.select("session_id", "q", "query_song"), on="session_id").select("q", "song", "query_song").unique()
    q, s = pairs["q"].to_numpy(), pairs["song"].to_numpy()
    shape = (sessions.height, len(songs))
    exp2 = sp.csr_matrix((np.ones(len(q), dtype=bool), (q, s)), shape=shape)
    other = s != pairs["query_song"].to_numpy()
    exp1 = sp.csr_matrix((np.ones(other.sum(), dtype=bool), (q[other], s[other])), shape=shape)
    exp1.sort_indices()
    exp2.sort_indices()
    return TestQueries(sessions=sessions.drop("q"), exp1_relevant=exp1, exp2_relevant=exp2, n_sessions_total=total)



def latest_sessions(train_sessions: pl.DataFrame) -> pl.DataFrame:
    """Each user's latest train session on each device: user_id, device, session_id.

    ``train_sessions``: session_id, user_id, device, start.
    """
    return (
        train_sessions.sort("start")
        .group_by("user_id", "device", maintain_order=True)
        .agg(pl.col("session_id").last())
    )


def reference_sessions(train_sessions: pl.DataFrame, queries: pl.DataFrame) -> pl.Series:
    """For each query session, the user's latest train session on the same device (null if none)."""
    latest = latest_sessions(train_sessions).rename({"session_id": "reference_session"})
    return queries.join(latest, on=["user_id", "device"], how="left", maintain_order="left")["reference_session"]

