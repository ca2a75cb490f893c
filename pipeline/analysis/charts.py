"""Figures: the paper's Fig 7 / Fig 8 (recall and precision against k) and a 2-D map of songs."""

from __future__ import annotations

import base64
import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from pipeline.io import atomic_path  # noqa: E402

EXPERIMENT_TITLES = {
    "exp1": "Experiment 1: similar-song retrieval (Fig 7)",
    "exp2": "Experiment 2: recommendation (Fig 8)",
}


def strata_figure(strata: pl.DataFrame, experiment: str, k: int):
    """Recall@k of each method (random left out) in each stratum: a panel per kind of stratum (pipeline.evaluation.strata)."""
    data = strata.filter((pl.col("experiment") == experiment) & (pl.col("k") == k) & (pl.col("method") != "random"))
    kinds = data["stratum_kind"].unique(maintain_order=True).to_list()
    methods = data["method"].unique(maintain_order=True).to_list()
    cols = min(3, max(1, len(kinds)))
    rows = -(-len(kinds) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    width = 0.8 / max(1, len(methods))
    for ax, kind in zip(axes.flat, kinds):
        part = data.filter(pl.col("stratum_kind") == kind)
        labels = part["stratum"].unique(maintain_order=True).to_list()
        for i, method in enumerate(methods):
            values = dict(part.filter(pl.col("method") == method).select("stratum", "recall").iter_rows())
            ax.bar(np.arange(len(labels)) + i * width, [values.get(lab, np.nan) for lab in labels], width, label=method)
        ax.set_xticks(np.arange(len(labels)) + width * (len(methods) - 1) / 2)
        ax.set_xticklabels([textwrap.fill(lab, 14) for lab in labels], fontsize=7)
        ax.set_title(kind, fontsize=9)
        ax.set_ylabel(f"recall@{k}", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    for ax in list(axes.flat)[len(kinds):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(f"{EXPERIMENT_TITLES.get(experiment, experiment).split(' (')[0]}: recall@{k} by stratum", fontsize=10)
    fig.tight_layout()
    return fig


def metrics_figure(metrics: pl.DataFrame, experiment: str):
    """Recall@k and precision@k of every method in one experiment."""
    data = metrics.filter(pl.col("experiment") == experiment)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method in data["method"].unique(maintain_order=True).to_list():
        m = data.filter(pl.col("method") == method).sort("k")
        for ax, measure in zip(axes, ("recall", "precision")):
            (line,) = ax.plot(m["k"], m[measure], marker="o", ms=3, label=method)
            if f"{measure}_lo" in m.columns and m[f"{measure}_lo"].is_not_nan().all():
                ax.fill_between(m["k"], m[f"{measure}_lo"], m[f"{measure}_hi"], color=line.get_color(), alpha=0.2, lw=0)
    for ax, measure in zip(axes, ("recall", "precision")):
        ax.set_xlabel("k")
        ax.set_ylabel(f"{measure}@k")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(EXPERIMENT_TITLES.get(experiment, experiment) + " — bands: 95 % bootstrap intervals")
    fig.tight_layout()
    return fig


def song_map(coords: np.ndarray, labels: list[str], title: str, max_points: int = 25_000, seed: int = 0):
    """Songs in a 2-D space coloured by a tag (language, genre ...), legend with each class's share."""
    labels_arr = np.asarray(labels)
    if len(coords) > max_points:
        keep = np.random.default_rng(seed).choice(len(coords), size=max_points, replace=False)
        coords, labels_arr = coords[keep], labels_arr[keep]
    classes, counts = np.unique(labels_arr, return_counts=True)
    order = np.argsort(-counts)
    fig, ax = plt.subplots(figsize=(6.5, 6))
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(order):  # largest class first, so small ones are drawn on top
        sel = labels_arr == classes[c]
        ax.scatter(coords[sel, 0], coords[sel, 1], s=3, alpha=0.6, color=cmap(i % 10),
                   label=f"{classes[c]} ({100 * counts[c] / counts.sum():.0f}%)")
    ax.legend(markerscale=4, fontsize=8, loc="best")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def save_png(fig, path: Path | str, dpi: int = 110) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


THUMBNAIL_DPI = 80  # legible legends in the Dagster UI (a 10-inch figure is 800 px wide)
THUMBNAIL_COLOURS = 128  # a palette PNG: about a quarter of the bytes of full colour, the same to the eye


def thumbnail_png(fig, dpi: int = THUMBNAIL_DPI) -> bytes:
    """The figure as a palette PNG small enough for run metadata (all the paper's figures: about 0.4 MB)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    out = io.BytesIO()
    Image.open(buf).convert("RGB").quantize(THUMBNAIL_COLOURS).save(out, format="PNG", optimize=True)
    return out.getvalue()


def thumbnail_markdown(fig, dpi: int = THUMBNAIL_DPI) -> str:
    """An inline PNG for the Dagster UI."""
    return f"![figure](data:image/png;base64,{base64.b64encode(thumbnail_png(fig, dpi)).decode()})"


def close(fig) -> None:
    plt.close(fig)


def popularity_map(coords: np.ndarray, levels: np.ndarray, title: str, max_points: int = 25_000, seed: int = 0):
    """Songs coloured by popularity level, popular songs drawn over unpopular ones."""
    if len(coords) > max_points:
        keep = np.random.default_rng(seed).choice(len(coords), size=max_points, replace=False)
        coords, levels = coords[keep], levels[keep]
    fig, ax = plt.subplots(figsize=(6.5, 6))
    cmap = plt.get_cmap("viridis")
    top = int(levels.max())
    for level in range(1, top + 1):
        sel = levels == level
        ax.scatter(coords[sel, 0], coords[sel, 1], s=3 + 2 * level, alpha=0.7, color=cmap((level - 1) / max(top - 1, 1)),
                   label=f"level {level} ({100 * sel.mean():.0f}%)")
    ax.legend(markerscale=2, fontsize=8, loc="best", title="popularity")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def users_map(panels: list[dict], title: str, ncols: int = 3, colour_by: str | None = None):
    """Users (red), their sessions (blue, or coloured by device / hour) and songs (grey), one panel each.

    A panel: title, user (x, y) or several users (n x 2), sessions (n x 2), songs (m x 2), and for colour_by "device" a list of
    device names, for "hour" an array of hours.
    """
    n = len(panels)
    ncols = min(ncols, n) or 1
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, p in zip(axes.ravel(), panels):
        ax.scatter(p["songs"][:, 0], p["songs"][:, 1], s=4, color="0.7", label="songs", zorder=1)
        if colour_by == "device":
            names = sorted(set(p["devices"]))
            cmap = plt.get_cmap("tab10")
            for i, name in enumerate(names):
                sel = np.array([d == name for d in p["devices"]])
                ax.scatter(p["sessions"][sel, 0], p["sessions"][sel, 1], s=14, color=cmap(i), label=name, zorder=2)
        elif colour_by == "hour":
            sc = ax.scatter(p["sessions"][:, 0], p["sessions"][:, 1], s=14, c=p["hours"], cmap="twilight", vmin=0, vmax=24, zorder=2)
            fig.colorbar(sc, ax=ax, label="hour of day (UTC)", fraction=0.046)
        else:
            ax.scatter(p["sessions"][:, 0], p["sessions"][:, 1], s=10, color="tab:blue", label="sessions", zorder=2)
        users = np.atleast_2d(p["user"])
        ax.scatter(users[:, 0], users[:, 1], s=90, color="red", marker="*", label="user", zorder=3)
        ax.set_title(p["title"], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if colour_by != "hour":
            ax.legend(fontsize=7, loc="best", markerscale=1.5)
    # wrapped to the figure's width (about 11 characters an inch at this size): a one-panel figure clipped it
    fig.suptitle(textwrap.fill(title, width=int(11 * 4 * ncols)))
    fig.tight_layout()
    return fig
