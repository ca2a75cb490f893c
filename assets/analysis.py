"""behaviour (every user, measured) -> pictures of the paper -> interactive explorer: each asset runs its stage
(``pipeline``) and reports it."""

import dagster as dg

from assets._meta import asset_meta, config_params, md_table
from assets.config import BehaviourConfig
from assets.stage_io import begin, guarded, materialized
from pipeline.analysis import behaviour as behaviour_stage
from pipeline.analysis import explorer as explorer_stage
from pipeline.analysis import plots as plots_stage
from pipeline.analysis.report import read_table
from pipeline.contract import upstream_assets
from resources import DataStore, MlflowTracking, PipelineSettings

GROUP = "analysis"


@dg.asset(group_name=GROUP, deps=upstream_assets("behaviour"), **asset_meta("behaviour"),
          description="Every user's listening behaviour, measured in the 128-d space: preference spread (single vs dynamic, "
          "clusters), device relevance and time relevance with permutation tests; checked against the planted truth when there is one.")
@guarded
def behaviour(context: dg.AssetExecutionContext, config: BehaviourConfig, store: DataStore, settings: PipelineSettings,
              mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    summary = behaviour_stage.behaviour(upstream, out, context.log.info, seed=settings.seed, max_users=config.max_users)
    settings_, counts, findings = behaviour_stage.summary_parts(summary)  # findings as users.*: after exp1/exp2 in MLflow's lists
    mlflow.log(mlflow.run_id(context.run_id, context.run), params={**config_params("behaviour", config), **{f"behaviour.{k}": v for k, v in settings_.items()}},
               counts={f"behaviour.{k}": v for k, v in counts.items()}, metrics={f"users.{k}": v for k, v in findings.items()})
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={**summary, "users (first 20)": md_table(read_table(out["users"]).head(20))})


@dg.asset(group_name=GROUP, deps=upstream_assets("plots"), **asset_meta("plots"),
          description="The paper's figures: Fig 1, 3 (songs by language, genre, popularity), 4, 5, 6 from the 2-D space, and "
          "Fig 7 / Fig 8 (recall and precision against k with 95 % intervals).")
@guarded
def plots(context: dg.AssetExecutionContext, store: DataStore, settings: PipelineSettings, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    drawn = plots_stage.plots(upstream, out, context.log.info, seed=settings.seed)
    metadata = {name.removesuffix(".png"): note for name, note in drawn["not_drawn"].items()}
    for name, figure in drawn["figures"].items():
        metadata[name.removesuffix(".png")] = dg.MetadataValue.md(figure["thumbnail"])
        metadata[f"{name} path"] = figure["path"]
    mlflow.log(mlflow.run_id(context.run_id, context.run), artifacts=[f["path"] for f in drawn["figures"].values()])
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata=metadata)


@dg.asset(group_name=GROUP, deps=upstream_assets("explorer"), **asset_meta("explorer"),
          description="A self-contained HTML page (works offline): pick a user, see their sessions and songs, colour by device or "
          "hour, click a session to highlight its songs; a songs view by language, genre or popularity.")
@guarded
def explorer(context: dg.AssetExecutionContext, store: DataStore, settings: PipelineSettings, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    page = explorer_stage.explorer(upstream, out, context.log.info, seed=settings.seed)
    mlflow.log(mlflow.run_id(context.run_id, context.run), artifacts=[page["html"], page["egonets"]])
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        # a path to open, not a file:// link (a browser refuses those from the UI's page)
        "path": dg.MetadataValue.path(page["html"]), "ego networks (GraphML)": dg.MetadataValue.path(page["egonets"]),
        **{k: page[k] for k in ("users", "songs", "size (MB)")},
    })
