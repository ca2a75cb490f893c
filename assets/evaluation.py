"""validation -> tunings -> baselines -> metrics: each asset runs its stage (``pipeline``) and reports it."""

from dataclasses import asdict

import dagster as dg

from assets._meta import asset_meta, config_params, md_table
from assets.config import ALSConfig, EvaluationConfig, SkipGramTuningConfig
from assets.stage_io import begin, guarded, materialized, store_of
from pipeline import defaults
from pipeline.analysis.report import metrics_frames, metrics_tables, read_table
from pipeline.contract import upstream_assets
from pipeline.evaluation import tuning as tuning_stages
from pipeline.evaluation.baselines import baselines as baselines_stage
from pipeline.evaluation.metrics import method_params
from pipeline.evaluation.tuning import ALSGrid
from pipeline.sessions import splits as split_stages
from resources import ComputeEngine, DataStore, MlflowTracking, PipelineSettings
from resources.params import config_digest, params_of

GROUP = "evaluation"


@dg.asset(group_name=GROUP, deps=upstream_assets("validation_split"), **asset_meta("validation_split"), description="Validation carved out of train the real-life way: each user's "
          "last train sessions validate, the earlier ones fit. Tuning uses it; test is never seen.")
@guarded
def validation_split(context: dg.AssetExecutionContext, store: DataStore, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    counts = split_stages.validation_split(upstream, out, context.log.info)
    sessions = counts.pop("validation_sessions")  # the run's plan (pipeline.sessions.split_plan.RunPlan)
    mlflow.log(mlflow.run_id(context.run_id, context.run), params={"validation.validation_sessions": sessions},
               counts={f"validation.{k}": v for k, v in counts.items()})
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata=counts)


@dg.asset(group_name=GROUP, deps=upstream_assets("als_tuning"), **asset_meta("als_tuning"), description="ALS search over a grid (regularization, confidence scaling, "
          "iterations) on the validation split: every point screened after a few iterations, the best few fitted to the end (or, with "
          "`search: full`, every point to the end); the best point is what `baselines` refits on all of train.")
@guarded
def als_tuning(context: dg.AssetExecutionContext, config: ALSConfig, store: DataStore, settings: PipelineSettings,
               mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    found = tuning_stages.als_tuning(upstream, out, context.log.info, seed=settings.seed, **asdict(params_of(config, ALSGrid)))
    mlflow.log(mlflow.run_id(context.run_id, context.run), params={**config_params("als_grid", config), **{f"als.{k}": v for k, v in found["chosen"].items()}},
               artifacts=[out["grid"]], artifact_dir="als_tuning")
    if found["edge"]:
        context.log.warning(f"ALS: the best {', '.join(found['edge'])} is at the edge of the grid; consider widening it")
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        "chosen": str(found["chosen"]), "best at the grid's edge": ", ".join(found["edge"]) or "none", "search": found["search"],
        "seconds": found["seconds"], "grid (validation)": md_table(read_table(out["grid"], drop=("seed", "factors")))})


@dg.asset(group_name=GROUP, deps=upstream_assets("skipgram_tuning"), **asset_meta("skipgram_tuning"), description="Optional: grid search of the skip-gram's epochs, "
          "learning rate and window on the validation split; when on, embedding_uss trains with the best point. Off by default "
          "(the paper's settings).")
@guarded
def skipgram_tuning(context: dg.AssetExecutionContext, config: SkipGramTuningConfig, store: DataStore,
                    settings: PipelineSettings, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    try:
        found = tuning_stages.skipgram_tuning(upstream, out, context.log.info, seed=settings.seed, workers=settings.workers,
                                              checkpoints=str(store_of(store).checkpoints("skipgram_tuning")), **config.model_dump())
    except tuning_stages.BadSetting as e:
        raise dg.Failure(str(e)) from None
    if not config.enabled:
        mlflow.log(mlflow.run_id(context.run_id, context.run), params=config_params("skipgram_grid", config))
        return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={"enabled": False, "note": "set enabled: true in this asset's config to run the grid"})
    result = found["result"]
    if found["edge"]:
        context.log.warning(f"skip-gram: the best {', '.join(found['edge'])} is at the edge of the grid; consider widening it")
    mlflow.log(mlflow.run_id(context.run_id, context.run), params={**config_params("skipgram_grid", config),
               **{f"skipgram.{k}": v for k, v in result["best"].items()}}, artifacts=[out["grid"]], artifact_dir="skipgram_tuning")
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        **{k: str(v) for k, v in result.items()}, "best at the grid's edge": ", ".join(found["edge"]) or "none",
        "seconds": found["seconds"], "grid (validation)": md_table(read_table(out["grid"]))})


@dg.asset(group_name=GROUP, deps=upstream_assets("baselines"), **asset_meta("baselines"), description="Popularity (train play counts) and ALS matrix factorisation "
          "(implicit, confidence 1+c*log(1+plays), settings chosen on validation) refit on the whole train set.")
@guarded
def baselines(context: dg.AssetExecutionContext, store: DataStore, settings: PipelineSettings) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    return materialized(out, metadata=baselines_stage(upstream, out, context.log.info, seed=settings.seed))


@dg.asset(group_name=GROUP, deps=upstream_assets("metrics"), **asset_meta("metrics"),
          description="Recall@k and precision@k of every method in Experiment 1 (similar songs) and 2 (recommendation).")
@guarded
def metrics(context: dg.AssetExecutionContext, config: EvaluationConfig, store: DataStore, settings: PipelineSettings,
            mlflow: MlflowTracking, engine: ComputeEngine) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    notes = engine.run(context, "metrics", upstream, out, **config.model_dump(), seed=settings.seed)
    table, strata, verdicts = metrics_frames(out)
    k = defaults.HEADLINE_K if defaults.HEADLINE_K in config.k_values else config.k_values[0]
    mlflow.log(mlflow.run_id(context.run_id, context.run), params=config_params("evaluation", config),
               counts={f"evaluation.{k}": v for k, v in notes.items() if k not in config.model_fields and not k.endswith(".seconds")},
               timings={f"evaluation.{k}": v for k, v in notes.items() if k.endswith(".seconds")},
               artifacts=[out["metrics_csv"]], dicts={"ordering_verdicts.json": verdicts.to_dicts(), "strata.json": strata.to_dicts()})
    mlflow.log_methods(context.run_id, table, method_params(upstream, config.space_variants, config.sknn_neighbours, config.sknn_sample),
                       headline_k=k, tags={"config_digest": config_digest(context.run.run_config)})
    tables = {title: md_table(frame) for title, frame in metrics_tables(table, strata, config.k_values, k).items()}
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        **notes, **tables, "paper's orderings (95 % intervals, users resampled)": md_table(verdicts),
    })
