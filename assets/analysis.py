"""behaviour (every user, measured) -> pictures of the paper -> interactive explorer."""

import dagster as dg
import numpy as np
import polars as pl

from assets._meta import asset_meta, config_params, md_table
from assets.config import BehaviourConfig
from assets.stage_io import begin, guarded, materialized
from pipeline import plots as figs
from pipeline.behaviour import agreement_with_truth, analyse_users, summary_parts
from pipeline.contract import StageFiles, upstream_assets
from pipeline.egonet import EGO_USERS, ego_networks, write_graphml
from pipeline.experiments import EVENT_IDS
from pipeline.explorer import explorer_data, write_explorer
from pipeline.figures import SpaceView, paper_figures
from pipeline.graph import Graph
from pipeline.io import write_json
from resources import DataStore, MlflowTracking, PipelineSettings

GROUP = "analysis"


def song_table(upstream: dict[str, StageFiles]) -> pl.DataFrame:
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
        pl.Series("popularity", figs.popularity_levels(songs["plays"].to_numpy())),
    )


def _space_view(upstream: dict[str, StageFiles], embedding: str) -> SpaceView:
    train = pl.read_parquet(upstream["splits"]["train"], columns=EVENT_IDS)
    return SpaceView(Graph.load(upstream["graph_uss"]), np.load(upstream[embedding]["vectors"]), train)


@dg.asset(group_name=GROUP, deps=upstream_assets("behaviour"), **asset_meta("behaviour"),
          description="Every user's listening behaviour, measured in the 128-d space: preference spread (single vs dynamic, "
          "clusters), device relevance and time relevance with permutation tests; checked against the planted truth when there is one.")
@guarded
def behaviour(context: dg.AssetExecutionContext, config: BehaviourConfig, store: DataStore, settings: PipelineSettings,
              mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    view = _space_view(upstream, "embedding_uss")
    sessions = view.sessions.with_columns(pl.col("session_id").replace_strict(view.session_vertex, return_dtype=pl.Int64).alias("vertex"))
    table, summary = analyse_users(sessions, view.coords, seed=settings.seed, max_users=config.max_users or None,
                                   log=context.log.info)
    truth_path = upstream["raw_events"]["truth_users"]
    if truth_path.exists():
        summary.update({f"truth_{k}": v for k, v in agreement_with_truth(table, pl.read_parquet(truth_path)).items()})
    table.write_parquet(out["users"])
    write_json(out["summary"], summary)
    settings, counts, findings = summary_parts(summary)  # findings as users.*: after exp1/exp2 in MLflow's lists
    mlflow.log(mlflow.run_id(context.run_id, context.run), params={**config_params("behaviour", config), **{f"behaviour.{k}": v for k, v in settings.items()}},
               counts={f"behaviour.{k}": v for k, v in counts.items()}, metrics={f"users.{k}": v for k, v in findings.items()})
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={**summary, "users (first 20)": md_table(table.head(20))})


@dg.asset(group_name=GROUP, deps=upstream_assets("plots"), **asset_meta("plots"),
          description="The paper's figures: Fig 1, 3 (songs by language, genre, popularity), 4, 5, 6 from the 2-D space, and "
          "Fig 7 / Fig 8 (recall and precision against k with 95 % intervals).")
@guarded
def plots(context: dg.AssetExecutionContext, store: DataStore, settings: PipelineSettings, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    figures, not_drawn = paper_figures(pl.read_parquet(upstream["metrics"]["metrics"]), song_table(upstream),
                                       _space_view(upstream, "embedding_uss_2d"), pl.read_parquet(upstream["behaviour"]["users"]),
                                       seed=settings.seed, strata=pl.read_parquet(upstream["metrics"]["strata"]))
    metadata = {name.removesuffix(".png"): note for name, note in not_drawn.items()}
    for name, fig in figures.items():
        path = figs.save_png(fig, out.series("figure", name.removesuffix(".png")))
        metadata[name.removesuffix(".png")] = dg.MetadataValue.md(figs.thumbnail_markdown(fig))
        metadata[f"{name} path"] = str(path)
    mlflow.log(mlflow.run_id(context.run_id, context.run), figures=figures)
    for fig in figures.values():
        figs.close(fig)
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata=metadata)


@dg.asset(group_name=GROUP, deps=upstream_assets("explorer"), **asset_meta("explorer"),
          description="A self-contained HTML page (works offline): pick a user, see their sessions and songs, colour by device or "
          "hour, click a session to highlight its songs; a songs view by language, genre or popularity.")
@guarded
def explorer(context: dg.AssetExecutionContext, store: DataStore, settings: PipelineSettings, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    songs = song_table(upstream)
    view = _space_view(upstream, "embedding_uss_2d")
    data = explorer_data(view, songs, seed=settings.seed)
    path = write_explorer(data, out["html"])
    egonets = write_graphml(ego_networks(view, songs, list(data["users"])[:EGO_USERS]), out["egonets"])
    mlflow.log(mlflow.run_id(context.run_id, context.run), artifacts=[path, egonets])
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        # a path to open, not a file:// link (a browser refuses those from the UI's page)
        "path": dg.MetadataValue.path(str(path)), "ego networks (GraphML)": dg.MetadataValue.path(str(egonets)), "users": len(data["users"]),
        "songs": len(data["songs"]["id"]), "size (MB)": round(path.stat().st_size / 1e6, 2),
    })
