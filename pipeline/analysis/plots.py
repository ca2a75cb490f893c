"""The paper's pictures of the 2-D space (Fig 1, 3, 4, 5, 6), with users picked by the behaviour scores."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from pipeline import defaults
from pipeline.analysis import charts as draw
from pipeline.analysis.behaviour import ALPHA
from pipeline.analysis.views import SpaceView, song_table, space_view
from pipeline.contract import StageFiles
from pipeline.network.graph import SESSION, SONG, USER  # noqa: F401 - the kinds, for the figures below


def paper_figures(metrics: pl.DataFrame, songs: pl.DataFrame, view: SpaceView, behaviour: pl.DataFrame,
                  seed: int, strata: pl.DataFrame | None = None) -> tuple[dict, dict[str, str]]:
    """Every figure of the paper by file name (Fig 7, 8 from the metrics; Fig 3 from the songs' tags and
    popularity; Fig 1, 4, 5, 6 from the behaviour table), and a note for each figure not drawn.

    ``songs``: song_id, genre, language, popularity (level), one row a train song."""
    xy = view.coords[[view.song_vertex[s] for s in songs["song_id"].to_list()]]
    figures = {
        "fig7_similar_song_retrieval.png": draw.metrics_figure(metrics, "exp1"),
        "fig8_recommendation.png": draw.metrics_figure(metrics, "exp2"),
        "fig3c_songs_by_popularity.png": draw.popularity_map(xy, songs["popularity"].to_numpy(), "Fig 3c: songs by popularity level",
                                                              seed=seed),
    }
    not_drawn = {}
    for name, tag in (("fig3a_songs_by_language.png", "language"), ("fig3b_songs_by_genre.png", "genre")):
        if songs[tag].is_null().all():
            not_drawn[name] = f"not drawn: the log has no {tag} tags"
            continue
        figures[name] = draw.song_map(xy, songs[tag].fill_null("unknown").to_list(), f"Fig 3: songs by {tag}", seed=seed)
    figures.update(behaviour_figures(view, behaviour))
    if strata is not None and not strata.is_empty():  # where each method wins (not a figure of the paper)
        k = defaults.HEADLINE_K if defaults.HEADLINE_K in strata["k"].to_list() else int(strata["k"].min())
        for experiment in ("exp1", "exp2"):
            figures[f"strata_{experiment}.png"] = draw.strata_figure(strata, experiment, k)
    return figures, not_drawn


def behaviour_figures(view: SpaceView, behaviour: pl.DataFrame) -> dict:
    """Fig 1, 4, 5, 6 from the per-user behaviour table (users picked automatically)."""
    by_sil = behaviour.sort("silhouette")
    figures = {}
    n = by_sil.height
    three = [by_sil[0], by_sil[n // 2], by_sil[n - 1]] if n >= 3 else [by_sil[i] for i in range(n)]
    if three:
        parts = [view.panel(u["user_id"][0], "") for u in three]
        combined = {k: np.concatenate([np.atleast_2d(p[k]) for p in parts]) for k in ("user", "sessions", "songs")}
        figures["fig1_three_users.png"] = draw.users_map(
            [{**combined, "title": "users " + ", ".join(u["user_id"][0] for u in three)}],
            "Fig 1: users (red), their sessions (blue) and songs (grey)")
    single = behaviour.filter(pl.col("preference") == "single").sort("silhouette").head(4)
    dynamic = behaviour.filter(pl.col("preference") == "dynamic").sort("silhouette", descending=True).head(9 - single.height)
    nine = pl.concat([single, dynamic])
    if nine.height:
        figures["fig4_single_and_dynamic_users.png"] = draw.users_map(
            [view.panel(r["user_id"], f"{r['user_id']}: {r['preference']} (silhouette {r['silhouette']:.2f})") for r in nine.iter_rows(named=True)],
            "Fig 4: users with a single preference and with dynamic preferences")
    for name, column, colour_by, title in (
        ("fig5_sessions_by_device.png", "device_p", "device", "Fig 5: sessions coloured by device (most device-related users)"),
        ("fig6_sessions_by_hour.png", "time_p", "hour", "Fig 6: sessions coloured by hour of day (most time-related users)"),
    ):
        score = "device_accuracy" if colour_by == "device" else "time_score"
        # the users the behaviour analysis calls related (its own significance level), most related first (ties by id)
        picked = behaviour.filter(pl.col(column) < ALPHA).sort([column, score, "user_id"], descending=[False, True, False]).head(4)
        if picked.height:
            figures[name] = draw.users_map(
                [view.panel(r["user_id"], f"{r['user_id']} (p={r[column]:.3f})") for r in picked.iter_rows(named=True)],
                title, ncols=2, colour_by=colour_by)
    return figures


def plots(upstream: Mapping[str, StageFiles], out: StageFiles, log=None, *, seed: int = defaults.SEED) -> dict:
    """The ``plots`` stage: every figure of ``paper_figures`` from the metrics, the songs, the 2-D space and the
    behaviour table, saved as PNG. Returns, for each figure, its file and an inline thumbnail (Markdown), and for each
    figure not drawn, why."""
    figures, not_drawn = paper_figures(pl.read_parquet(upstream["metrics"]["metrics"]), song_table(upstream),
                                       space_view(upstream, "embedding_uss_2d"), pl.read_parquet(upstream["behaviour"]["users"]),
                                       seed=seed, strata=pl.read_parquet(upstream["metrics"]["strata"]))
    drawn = {}
    for name, fig in figures.items():
        path = draw.save_png(fig, out.series("figure", name.removesuffix(".png")))
        drawn[name] = {"path": str(path), "thumbnail": draw.thumbnail_markdown(fig)}
        draw.close(fig)
    return {"figures": drawn, "not_drawn": not_drawn}
