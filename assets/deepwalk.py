"""graphs -> walks -> embeddings, for the user-session-song network and the user-song baseline."""

# No `from __future__ import annotations`: Dagster reads the config class from the annotation of a
# factory-made asset, which must be a real class, not a string naming a closure variable.

from dataclasses import asdict

import dagster as dg

from assets import checks
from assets._meta import asset_meta, config_params, md_table
from assets.config import Embedding2DConfig, EmbeddingConfig, WalkConfig
from assets.stage_io import begin, discard, guarded, materialized, store_of
from pipeline import defaults
from pipeline.contract import EMBEDDING_NETWORK, NETWORKS, TUNED_BY, graph_stage, upstream_assets, walks_stage
from pipeline.embedding.embedding import BadCorpus, Paused, check_trainer, chosen_settings
from pipeline.embedding.record import TRAINING_STATS
from pipeline.embedding.skipgram import SkipGramParams
from pipeline.network.graph import graph_summary
from pipeline.network.walk_reader import WalkFileError
from resources import ComputeEngine, DataStore, MlflowTracking, PipelineSettings
from resources.params import params_of

GROUP = "deepwalk"
PAUSED_KEY = "paused at the time budget"  # in the failure of a training stopped by max_train_seconds, to resume


def _graph_asset(network: str):
    name = graph_stage(network)

    @dg.asset(name=name, group_name=GROUP, deps=upstream_assets(name), **asset_meta(name),
              description=f"The {NETWORKS[network].title} network of the train set: CSR adjacency and a vertex table "
                          "(on Spark, folders of the blocks its tasks wrote).")
    @guarded
    def _asset(context: dg.AssetExecutionContext, store: DataStore, engine: ComputeEngine) -> dg.MaterializeResult:
        upstream, out = begin(context, store)
        engine.run(context, name, upstream, out)
        summary = graph_summary(out)
        kinds = summary.pop("vertices by kind")
        return materialized(out, metadata={"engine": engine.describe(), **summary, "vertices by kind": md_table(kinds)})

    return _asset


def _walks_asset(network: str):
    name = walks_stage(network)

    @dg.asset(
        name=name,
        group_name=GROUP,
        deps=upstream_assets(name), **asset_meta(name),
        check_specs=[checks.walk_spec(network)],
        description=f"Uniform random walks on the {NETWORKS[network].title} network (L={defaults.WALK_LENGTH}, "
        f"R={defaults.WALKS_PER_VERTEX} per vertex), one walk a line, one corpus file per pass (the training's checkpoint unit; on Spark, a folder of the parts its "
        "tasks wrote).",
    )
    @guarded
    def _asset(
        context: dg.AssetExecutionContext, config: WalkConfig, store: DataStore, settings: PipelineSettings, mlflow: MlflowTracking,
        engine: ComputeEngine,
    ) -> dg.MaterializeResult:
        upstream, out = begin(context, store)
        counts = engine.run(context, name, upstream, out, **config.model_dump(), seed=settings.seed)
        record = {k: counts[k] for k in ("walks", "tokens", "seconds")}
        mlflow.log(
            mlflow.run_id(context.run_id, context.run),
            params=config_params(name, config),
            counts={f"{name}.tokens": record["tokens"]}, timings={f"{name}.seconds": record["seconds"]},
        )
        return materialized(out, mlflow_run=mlflow.link(context.run_id), check_results=[checks.walks_follow_edges(network, upstream[graph_stage(network)], out)], metadata={
            **record, "M steps/s": round(record["tokens"] / max(record["seconds"], 1e-9) / 1e6, 2), "shards": config.walks_per_vertex,
            "engine": engine.describe(),
        })

    return _asset


def _train(context, name: str, upstream: dict, out, params: SkipGramParams, config, store: DataStore, engine: ComputeEngine) -> dict:
    """The training stage on the engine that has its trainer; a training paused at its budget fails (its folder
    removed) so that the next materialization resumes it."""
    try:
        return engine.run(context, name, upstream, out, checkpoints=str(store_of(store).checkpoints(name)), trainer=config.trainer,
                          train_shards=config.train_shards, max_train_seconds=config.max_train_seconds,
                          spark_partitions=config.spark_partitions, **asdict(params))
    except BadCorpus as e:
        raise dg.Failure(str(e)) from None
    except WalkFileError as e:
        raise dg.Failure(f"{name}: {e}") from None
    except Paused as paused:
        discard(out)
        raise dg.Failure(str(paused), metadata={PAUSED_KEY: True, "shards done": paused.done}, allow_retries=True) from None


def _embedding_asset(name: str, config_class: type[EmbeddingConfig], description: str):
    walked = walks_stage(EMBEDDING_NETWORK[name])

    @dg.asset(name=name, group_name=GROUP, deps=upstream_assets(name), **asset_meta(name), check_specs=[checks.embedding_spec(name)],
              description=description)
    @guarded
    def _asset(
        context: dg.AssetExecutionContext, config: config_class, store: DataStore, settings: PipelineSettings, mlflow: MlflowTracking,
        engine: ComputeEngine,
    ) -> dg.MaterializeResult:
        try:
            check_trainer(config.trainer, config.train_shards)
        except ValueError as e:
            raise dg.Failure(str(e)) from None
        upstream, out = begin(context, store)
        configured = params_of(config, SkipGramParams, workers=settings.workers, seed=settings.seed)
        params, tuning, changed = chosen_settings(name, configured, upstream)
        if changed:
            context.log.info(f"{name}: {TUNED_BY[name][0]} chose " + ", ".join(f"{k}={new} (configured {old})" for k, (old, new) in changed.items()))
        trained = _train(context, name, upstream, out, params, config, store, engine)
        stats = trained["stats"]
        mlflow.log(
            mlflow.run_id(context.run_id, context.run),
            params={f"{name}.{k}": v for k, v in trained["record"].items() if k not in TRAINING_STATS},
            timings={f"{name}.words_per_second": stats["words_per_second"], f"{name}.seconds": stats["seconds"]},
            artifacts=[out["vectors"]] if out["vectors"].stat().st_size <= 200e6 else [],
            artifact_dir=name,
        )
        check = checks.finite_and_complete(name, out, upstream[walked])
        return materialized(out, mlflow_run=mlflow.link(context.run_id), check_results=[check], metadata={
            "vertices": trained["vertices"], "dimensions": params.dimensions, **tuning,
            **{k: round(v, 2) for k, v in stats.items()}, **trained["metadata"],
        })

    return _asset


graph_uss = _graph_asset("uss")
graph_us = _graph_asset("us")
walks_uss = _walks_asset("uss")
walks_us = _walks_asset("us")
embedding_uss = _embedding_asset("embedding_uss", EmbeddingConfig, "DeepWalk on the user-session-song network, d=128 (evaluation).")
embedding_uss_2d = _embedding_asset("embedding_uss_2d", Embedding2DConfig, "DeepWalk on the user-session-song network, d=2 (pictures).")
embedding_us = _embedding_asset("embedding_us", EmbeddingConfig, "DeepWalk on the user-song network (baseline), d=128.")
