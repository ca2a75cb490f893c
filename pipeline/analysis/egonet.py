"""Users' ego networks -- the user, their sessions and their songs, with the user-session and
session-song edges of the paper's network -- as a networkx graph, written as GraphML for Gephi,
Cytoscape or networkx itself. The pipeline's own graph stays CSR; this is the exchange format.

Every vertex has ``kind`` (user, session, song), ``key`` (its id in the log) and its place in the
2-D space (``x``, ``y``); a session also its user, device, start time and hour of day; a song its
title, artist, genre and language (empty where the log has none).
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import polars as pl

from pipeline.analysis.views import SpaceView
from pipeline.io import atomic_path
from pipeline.network.graph import SESSION, SONG, USER

SONG_TAGS = ("title", "artist", "genre", "language")
EGO_USERS = 20  # users whose ego networks the explorer asset writes (each about 80 sessions and their songs)


def ego_networks(view: SpaceView, songs: pl.DataFrame, users: list[str]) -> nx.Graph:
    """The ego networks of ``users`` in one graph (songs they share are one vertex)."""
    tags = {r["song_id"]: r for r in songs.select("song_id", *[t for t in SONG_TAGS if t in songs.columns]).iter_rows(named=True)}
    graph = nx.Graph(name="user-session-song ego networks")

    def place(vertex: int) -> dict:
        x, y = view.coords[vertex][:2]
        return {"x": float(x), "y": float(y)}

    for user in users:
        u = f"{USER}:{user}"
        graph.add_node(u, kind=USER, key=user, **place(view.user_vertex[user]))
        for s in view.sessions.filter(pl.col("user_id") == user).iter_rows(named=True):
            node = f"{SESSION}:{s['session_id']}"
            start = s["start"]
            graph.add_node(node, kind=SESSION, key=s["session_id"], user=user, device=s["device"] or "",
                           start=start.isoformat(), hour=start.hour + start.minute / 60, **place(view.session_vertex[s["session_id"]]))
            graph.add_edge(u, node)
            for song in s["songs"]:
                v = f"{SONG}:{song}"
                if v not in graph:
                    info = tags.get(song, {})
                    graph.add_node(v, kind=SONG, key=song, **{t: str(info.get(t) or "") for t in SONG_TAGS},
                                   **place(view.song_vertex[song]))
                graph.add_edge(node, v)
    return graph


def write_graphml(graph: nx.Graph, path: Path | str) -> Path:
    with atomic_path(path) as tmp:
        nx.write_graphml(graph, tmp)
    return Path(path)
