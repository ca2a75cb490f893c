"""baselines -> metrics -> plots."""


import dagster as dg
import polars as pl

from assets._meta import asset_meta, config_params, md_table
from assets.config import ALSConfig, EvaluationConfig, SkipGramTuningConfig
from assets.stage_io import begin, guarded, materialized, store_of
from pipeline import defaults
from pipeline.baselines import ALSParams, catalogue, fit_als, play_counts, user_song_matrix
from pipeline.contract import StageFiles, upstream_assets
from pipeline.embed import SkipGramParams
from pipeline.experiments import EVENT_IDS
from pipeline.io import file_digest, read_json, save_npy, write_json
from pipeline.report import metrics_table
from pipeline.splits import validation_split_files
from pipeline.trainers import RESUMABLE
from pipeline.training import TRAINING_STATS
from pipeline.tuning import (
    GRID_AXES,
    ALSGrid,
    at_grid_edge,
    grid_ledger,
    popularity_validation,
    search_summary,
    skipgram_result,
    tune_als,
    tune_skipgram,
)
from resources import ComputeEngine, DataStore, MlflowTracking, PipelineSettings
from resources.params import config_digest, params_of

GROUP = "evaluation"


@dg.asset(group_name=GROUP, deps=upstream_assets("validation_split"), **asset_meta("validation_split"), description="Validation carved out of train the real-life way: each user's "
          "last train sessions validate, the earlier ones fit. Tuning uses it; test is never seen.")
@guarded
def validation_split(context: dg.AssetExecutionContext, store: DataStore, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    split = upstream["splits"]
    sessions = read_json(split["chosen"])["validation_sessions"]  # the run's plan (pipeline.split_plan.RunPlan)
    counts = validation_split_files(split["train"], out["fit"], out["validation"], sessions)
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
    validation = upstream["validation_split"]
    als_grid = params_of(config, ALSGrid)
    fit, val = pl.read_parquet(validation["fit"], columns=EVENT_IDS), pl.read_parquet(validation["validation"], columns=EVENT_IDS)
    best, grid = tune_als(fit, val, als_grid, seed=settings.seed, progress=context.log.info)
    grid.write_csv(out["grid"])
    write_json(out["best"], best.as_record())
    write_json(out["validation"], {"MF": grid["score"][0], "popularity": popularity_validation(fit, val, als_grid.tuning_k, settings.seed)["score"],
                                   "data": file_digest(validation["validation"]), "k": als_grid.tuning_k})
    mlflow.log(mlflow.run_id(context.run_id, context.run), params={**config_params("als_grid", config), **{f"als.{k}": v for k, v in best.as_record().items()}},
               artifacts=[out["grid"]], artifact_dir="als_tuning")
    edge = at_grid_edge(grid, als_grid.axes())
    if edge:
        context.log.warning(f"ALS: the best {', '.join(edge)} is at the edge of the grid; consider widening it")
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={"chosen": str(best.as_record()), "best at the grid's edge": ", ".join(edge) or "none",
                                       "search": search_summary(als_grid, grid), "seconds": round(grid["seconds"].sum(), 1),
                                       "grid (validation)": md_table(grid.drop("seed", "factors"))})


@dg.asset(group_name=GROUP, deps=upstream_assets("skipgram_tuning"), **asset_meta("skipgram_tuning"), description="Optional: grid search of the skip-gram's epochs, "
          "learning rate and window on the validation split; when on, embedding_uss trains with the best point. Off by default "
          "(the paper's settings).")
@guarded
def skipgram_tuning(context: dg.AssetExecutionContext, config: SkipGramTuningConfig, store: DataStore,
                    settings: PipelineSettings, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    validation = upstream["validation_split"]
    if not config.enabled:
        write_json(out["result"], {"enabled": False})
        mlflow.log(mlflow.run_id(context.run_id, context.run), params=config_params("skipgram_grid", config))
        return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={"enabled": False, "note": "set enabled: true in this asset's config to run the grid"})
    if config.trainer not in RESUMABLE:
        raise dg.Failure(f"skipgram_tuning: trainer {config.trainer!r} is not one of {', '.join(RESUMABLE)}")
    base = SkipGramParams(dimensions=config.dimensions, workers=settings.workers, seed=settings.seed)
    finished = grid_ledger(store_of(store).checkpoints("skipgram_tuning"), {part: validation[part] for part in ("fit", "validation")},
                           config.model_dump(), settings.seed)
    _, grid = tune_skipgram(
        pl.read_parquet(validation["fit"], columns=EVENT_IDS), pl.read_parquet(validation["validation"], columns=EVENT_IDS), base, config.epochs, config.alpha,
        out["corpus"], config.window, config.walk_length, config.walks_per_vertex, k=config.tuning_k, progress=context.log.info,
        trainer=config.trainer, finished=finished,
    )
    grid.write_csv(out["grid"])
    result = skipgram_result(grid, base)
    write_json(out["result"], result)  # (the scored points stay in `finished`: a widened grid scores only new ones)
    edge = at_grid_edge(grid, {axis: getattr(config, axis) for axis in GRID_AXES})
    if edge:
        context.log.warning(f"skip-gram: the best {', '.join(edge)} is at the edge of the grid; consider widening it")
    mlflow.log(mlflow.run_id(context.run_id, context.run), params={**config_params("skipgram_grid", config),
               **{f"skipgram.{k}": v for k, v in result["best"].items()}}, artifacts=[out["grid"]], artifact_dir="skipgram_tuning")
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        **{k: str(v) for k, v in result.items()}, "best at the grid's edge": ", ".join(edge) or "none",
        "seconds": round(grid["seconds"].sum(), 1), "grid (validation)": md_table(grid)})


@dg.asset(group_name=GROUP, deps=upstream_assets("baselines"), **asset_meta("baselines"), description="Popularity (train play counts) and ALS matrix factorisation "
          "(implicit, confidence 1+c*log(1+plays), settings chosen on validation) refit on the whole train set.")
@guarded
def baselines(context: dg.AssetExecutionContext, store: DataStore, settings: PipelineSettings) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    train = pl.read_parquet(upstream["splits"]["train"], columns=["user_id", "song_id"])
    users, songs = catalogue(train)
    plays = user_song_matrix(train, users, songs)
    params = ALSParams(**{**read_json(upstream["als_tuning"]["best"]), "seed": settings.seed})
    user_factors, item_factors = fit_als(plays, params)
    save_npy(out["popularity"], play_counts(train, songs))
    save_npy(out["user_factors"], user_factors)
    save_npy(out["item_factors"], item_factors)
    write_json(out["params"], params.as_record())
    return materialized(out, metadata={"users": len(users), "songs": len(songs), "user-song pairs": plays.nnz, **params.as_record()})


def _method_params(upstream: dict[str, StageFiles], config: EvaluationConfig) -> dict[str, dict]:
    """The params that shaped each method (its embedding's or factorisation's settings), for its MLflow run."""
    embedding = {name: {k: v for k, v in read_json(upstream[stage]["params"]).items() if k not in TRAINING_STATS}
                 for name, stage in (("proposed", "embedding_uss"), ("U-S", "embedding_us"))}
    proposed = {f"embedding_uss.{k}": v for k, v in embedding["proposed"].items()}
    return {
        "proposed": proposed, "proposed-user": proposed, "proposed-device": proposed,
        "U-S": {f"embedding_us.{k}": v for k, v in embedding["U-S"].items()},
        "MF": {f"als.{k}": v for k, v in read_json(upstream["baselines"]["params"]).items()},
        **{name: {"sknn_neighbours": config.sknn_neighbours, "sknn_sample": config.sknn_sample} for name in ("SKNN", "SKNN-user", "SKNN-device")},
        **{f"proposed/{v}{part}": {**proposed, "similarity": v} for v in config.space_variants for part in ("", "-user", "-device")},
    }


def strata_tables(strata: pl.DataFrame, k: int) -> dict:
    """Recall@k by stratum, a column per stratum, one table per experiment and kind of stratum."""
    out = {}
    for (experiment, kind), part in strata.filter(pl.col("k") == k).group_by("experiment", "stratum_kind", maintain_order=True):
        wide = part.pivot("stratum", index="method", values="recall", sort_columns=False)
        out[f"Exp {experiment[-1]} recall@{k} by {kind}"] = md_table(wide)
    return out


@dg.asset(group_name=GROUP, deps=upstream_assets("metrics"), **asset_meta("metrics"),
          description="Recall@k and precision@k of every method in Experiment 1 (similar songs) and 2 (recommendation).")
@guarded
def metrics(context: dg.AssetExecutionContext, config: EvaluationConfig, store: DataStore, settings: PipelineSettings,
            mlflow: MlflowTracking, engine: ComputeEngine) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    notes = engine.run(context, "metrics", upstream, out, **config.model_dump(), seed=settings.seed)
    table, strata, verdicts = (pl.read_parquet(out[key]) for key in ("metrics", "strata", "verdicts"))

    parent = mlflow.run_id(context.run_id, context.run)
    mlflow.log(parent, params=config_params("evaluation", config),
               counts={f"evaluation.{k}": v for k, v in notes.items() if k not in config.model_fields and not k.endswith(".seconds")},
               timings={f"evaluation.{k}": v for k, v in notes.items() if k.endswith(".seconds")},
               artifacts=[out["metrics_csv"]], dicts={"ordering_verdicts.json": verdicts.to_dicts(),
                                                      "strata.json": strata.to_dicts()})
    mlflow.log_methods(context.run_id, table, _method_params(upstream, config), headline_k=defaults.HEADLINE_K if defaults.HEADLINE_K in config.k_values else config.k_values[0],
                       tags={"config_digest": config_digest(context.run.run_config)})
    # The UI's tables show every other k, so that they fit without scrolling sideways (all k: metrics.csv, MLflow).
    shown = table.filter(pl.col("k").is_in(config.k_values[::2]))
    tables = {f"Exp {e[-1]} {label}@k": md_table(metrics_table(shown, measure, e))
              for measure, label in (("recall", "recall"), ("precision", "precision"), ("ndcg", "NDCG")) for e in ("exp1", "exp2")}
    k = defaults.HEADLINE_K if defaults.HEADLINE_K in config.k_values else config.k_values[0]
    beyond = [c for c in table.columns if c in ("coverage", "popularity", "novelty", "rare", "heard") or c.startswith("diversity_")]
    tables[f"beyond accuracy @{k}"] = md_table(table.filter(pl.col("k") == k).select("experiment", "method", *beyond))
    tables.update(strata_tables(strata, k))
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        **notes, **tables, "paper's orderings (95 % intervals, users resampled)": md_table(verdicts),
    })
