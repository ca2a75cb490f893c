"""What the analysis stages look at: where each user, session and song lies in a space (``SpaceView``), and each
train song's tags and popularity (``song_table``), read from the stages' files."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from pipeline.contract import EVENT_IDS, StageFiles
from pipeline.network.graph import SESSION, SONG, USER, Graph


class SpaceView:
    """Where each user, session and song lies in the 2-D space, and who listened to what."""

    def __init__(self, graph: Graph, coords: np.ndarray, train: pl.DataFrame) -> None:
        self.coords = coords
        self.user_vertex = graph.index_of(USER)
        self.session_vertex = graph.index_of(SESSION)
        self.song_vertex = graph.index_of(SONG)
        self.sessions = (
            train.group_by("session_id", maintain_order=True)
            .agg(pl.col("user_id").first(), pl.col("device").first(), pl.col("timestamp").min().alias("start"),
                 pl.col("song_id").unique(maintain_order=True).alias("songs"))
            .with_columns(pl.col("session_id").cast(pl.String))
            .sort("user_id", "start")
        )

    def panel(self, user: str, title: str) -> dict:
        s = self.sessions.filter(pl.col("user_id") == user)
        songs = sorted({song for group in s["songs"].to_list() for song in group})
        return {
            "title": title,
            "user": self.coords[self.user_vertex[user]],
            "sessions": self.coords[[self.session_vertex[k] for k in s["session_id"].to_list()]],
            "songs": self.coords[[self.song_vertex[k] for k in songs]],
            "devices": s["device"].fill_null("unknown").to_list(),
            "hours": (s["start"].dt.hour().cast(pl.Float64) + s["start"].dt.minute().cast(pl.Float64) / 60).to_numpy(),
        }


def popularity_levels(play_counts: np.ndarray, levels: int = 5) -> np.ndarray:
    """Level 1..levels: log(1 + train play count) cut into equal-width bins (the paper's Fig 3c)."""
    logc = np.log1p(np.asarray(play_counts, dtype=np.float64))
    edges = np.linspace(logc.min(), logc.max() + 1e-9, levels + 1)
    return np.clip(np.searchsorted(edges, logc, side="right"), 1, levels)


def space_view(upstream: Mapping[str, StageFiles], embedding: str) -> SpaceView:
    """The view of stage ``embedding``'s space (``graph_uss``'s vertices, the train events)."""
    train = pl.read_parquet(upstream["splits"]["train"], columns=EVENT_IDS)
    return SpaceView(Graph.load(upstream["graph_uss"]), np.load(upstream[embedding]["vectors"]), train)


def song_table(upstream: Mapping[str, StageFiles]) -> pl.DataFrame:
    """Each train song's tags (first seen), title (from the generator's catalogue if any) and popularity level.
    Reads only the four columns it needs: at paper scale, the whole train table held beside the space view took
    the largest memory of the run."""
    songs = (
        pl.scan_parquet(upstream["splits"]["train"])
        .group_by("song_id", maintain_order=True)
        .agg(pl.col("artist").first(), pl.col("genre").first(), pl.col("language").first(), pl.len().alias("plays"))
        .collect()
    )
    catalogue = upstream["raw_events"]["truth_songs"]
    if catalogue.exists():
        songs = songs.join(pl.read_parquet(catalogue, columns=["song_id", "title"]), on="song_id", how="left")
    else:
        songs = songs.with_columns(pl.lit(None, pl.String).alias("title"))
    return songs.with_columns(
        pl.col("title").fill_null(pl.col("song_id")),
        pl.Series("popularity", popularity_levels(songs["plays"].to_numpy())),
    )
