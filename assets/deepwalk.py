"""graphs -> walks -> embeddings, for the user-session-song network and the user-song baseline."""

# No `from __future__ import annotations`: Dagster reads the config class from the annotation of a
# factory-made asset, which must be a real class, not a string naming a closure variable.

import dagster as dg
import numpy as np

from assets import checks
from assets._meta import asset_meta, config_params, md_table
from assets.config import Embedding2DConfig, EmbeddingConfig, WalkConfig
from assets.stage_io import begin, guarded, inputs, materialized, new_version, store_of
from pipeline import defaults
from pipeline.checkpoints import discard_checkpoint, train_skipgram_resumable
from pipeline.contract import EMBEDDING_NETWORK, TUNED_BY, upstream_assets
from pipeline.embed import SkipGramParams
from pipeline.graph import Graph
from pipeline.io import read_json, save_npy, write_json
from pipeline.trainers import RESUMABLE
from pipeline.training import (
    TRAINERS,
    TRAINING_STATS,
    TUNED_SETTINGS,
    params_json,
    resumable_trained,
    spark_settings,
    spark_trained,
    tuned,
)
from pipeline.walk_reader import WalkFileError
from pipeline.walks import ShardedCorpus
from resources import ComputeEngine, DataStore, MlflowTracking, PipelineSettings
from resources.params import params_of

GROUP = "deepwalk"
PAUSED_KEY = "paused at the time budget"  # in the failure of a training stopped by max_train_seconds, to resume
NETWORK_TITLES = {"uss": "user-session-song", "us": "user-song"}


def _graph_asset(network: str):
    name = f"graph_{network}"

    @dg.asset(name=name, group_name=GROUP, deps=upstream_assets(name), **asset_meta(name),
              description=f"The {NETWORK_TITLES[network]} network of the train set: CSR adjacency and a vertex table.")
    @guarded
    def _asset(context: dg.AssetExecutionContext, store: DataStore, engine: ComputeEngine) -> dg.MaterializeResult:
        upstream, out = begin(context, store)
        engine.run(context, name, upstream, out)
        graph = Graph.load(out)
        degree = graph.degree()
        return materialized(out, metadata={
            "engine": engine.describe(),
            "vertices": graph.n_vertices,
            "edges": graph.n_edges,
            "vertices by kind": md_table(graph.vertices.group_by("kind", maintain_order=True).len()),
            "mean degree": float(degree.mean()),
            "isolated vertices": int((degree == 0).sum()),
        })

    return _asset


def _walks_asset(network: str):
    name = f"walks_{network}"

    @dg.asset(
        name=name,
        group_name=GROUP,
        deps=upstream_assets(name), **asset_meta(name),
        check_specs=[checks.walk_spec(network)],
        description=f"Uniform random walks on the {NETWORK_TITLES[network]} network (L={defaults.WALK_LENGTH}, "
        f"R={defaults.WALKS_PER_VERTEX} per vertex), one walk a line, one corpus file per pass (the training's checkpoint unit).",
    )
    @guarded
    def _asset(
        context: dg.AssetExecutionContext, config: WalkConfig, store: DataStore, settings: PipelineSettings, mlflow: MlflowTracking,
        engine: ComputeEngine,
    ) -> dg.MaterializeResult:
        upstream, out = begin(context, store)
        counts = engine.run(context, name, upstream, out, **config.model_dump(), seed=settings.seed)
        record = {k: counts[k] for k in ("walks", "tokens", "seconds")}
        write_json(out["stats"], {**record, **config.model_dump(), "seed": settings.seed, "engine": engine.describe()})
        mlflow.log(
            mlflow.run_id(context.run_id, context.run),
            params=config_params(name, config),
            counts={f"{name}.tokens": record["tokens"]}, timings={f"{name}.seconds": record["seconds"]},
        )
        graph = Graph.load(upstream[f"graph_{network}"])
        return materialized(out, mlflow_run=mlflow.link(context.run_id), check_results=[checks.walks_follow_edges(network, graph, out)], metadata={
            **record, "M steps/s": round(record["tokens"] / max(record["seconds"], 1e-9) / 1e6, 2), "shards": config.walks_per_vertex,
            "engine": engine.describe(),
        })

    return _asset


def _train_resumable(context, name: str, walks, params: SkipGramParams, config, store: DataStore):
    """The skip-gram of ``config.trainer`` (gensim or numba), resumable shard by shard: (version, vectors, Trained); a
    paused training fails to be resumed."""
    try:
        corpus = ShardedCorpus.load(walks).first(config.train_shards)
    except ValueError as e:
        raise dg.Failure(str(e)) from None
    try:
        result = train_skipgram_resumable(corpus, params, store_of(store).checkpoints(name), progress=context.log.info,
                                          max_seconds=config.max_train_seconds or None, trainer=config.trainer)
    except WalkFileError as e:
        raise dg.Failure(f"{name}: {e}") from None
    if not result.complete:
        raise dg.Failure(
            f"paused after {result.units_reused + result.units_trained}/{result.units_total} shards "
            f"(max_train_seconds={config.max_train_seconds}); materialize again to resume from the checkpoint",
            metadata={PAUSED_KEY: True, "shards done": result.units_reused + result.units_trained}, allow_retries=True,
        )
    out = new_version(context, store)
    save_npy(out["vectors"], result.vectors)
    discard_checkpoint(result)
    trained = resumable_trained(result, params, config.trainer)
    if config.train_shards:  # a quick run: say so wherever the params are read (MLflow, the metrics' method params)
        trained.record["train_shards"] = config.train_shards
        trained.metadata["trained on walk shards"] = f"the first {config.train_shards} (train_shards): not the paper's training"
    return out, result.vectors, trained


def _train_spark(context, walks_stage: str, walks, params: SkipGramParams, config, store: DataStore, engine: ComputeEngine):
    """Spark ML's Word2Vec on the engine's cluster (pipeline.spark.word2vec): (version, vectors, Trained)."""
    out = new_version(context, store)
    outcome = engine.run(context, "word2vec", {walks_stage: walks}, out, walks=walks_stage, **spark_settings(params),
                         partitions=config.spark_partitions)
    return out, np.load(out["vectors"]), spark_trained(outcome, params, config.spark_partitions)


def _settings(context, name: str, config, settings: PipelineSettings, upstream: dict) -> tuple[SkipGramParams, dict]:
    """The skip-gram settings of ``name``: its config's, or the point its tuning stage chose (``TUNED_BY``) when that ran;
    and a metadata line saying which."""
    params = params_of(config, SkipGramParams, workers=settings.workers, seed=settings.seed)
    for stage in TUNED_BY.get(name, ()):
        result = read_json(upstream[stage]["result"])
        params, changed = tuned(params, result)
        if not result.get("enabled"):
            return params, {"settings": f"this asset's config ({stage} is off: the paper's unless configured)"}
        chosen = ", ".join(f"{k}={getattr(params, k)}" for k in TUNED_SETTINGS)
        if changed:
            context.log.info(f"{name}: {stage} chose " + ", ".join(f"{k}={new} (configured {old})" for k, (old, new) in changed.items()))
        return params, {"settings": f"chosen on validation by {stage}: {chosen} (validation score {result['best_score']:.4f}, "
                                    f"the paper's point {_score(result.get('paper_score'))}; tuned at d={result.get('dimensions', '?')})"}
    return params, {}


def _score(value) -> str:
    return "not in the grid" if value is None else f"{value:.4f}"


def _embedding_asset(name: str, config_class: type[EmbeddingConfig], description: str):
    walks_stage = f"walks_{EMBEDDING_NETWORK[name]}"

    @dg.asset(name=name, group_name=GROUP, deps=upstream_assets(name), **asset_meta(name), check_specs=[checks.embedding_spec(name)],
              description=description)
    @guarded
    def _asset(
        context: dg.AssetExecutionContext, config: config_class, store: DataStore, settings: PipelineSettings, mlflow: MlflowTracking,
        engine: ComputeEngine,
    ) -> dg.MaterializeResult:
        if config.trainer not in TRAINERS:
            raise dg.Failure(f"trainer {config.trainer!r} is not one of {', '.join(TRAINERS)}")
        if config.train_shards and config.trainer not in RESUMABLE:
            raise dg.Failure(f"train_shards={config.train_shards} applies to the {' and '.join(RESUMABLE)} trainers, not {config.trainer!r}")
        upstream = inputs(context)
        walks = upstream[walks_stage]
        params, tuning = _settings(context, name, config, settings, upstream)
        out, vectors, trained = (
            _train_resumable(context, name, walks, params, config, store) if config.trainer in RESUMABLE
            else _train_spark(context, walks_stage, walks, params, config, store, engine))
        write_json(out["params"], params_json(trained, read_json(walks["stats"])))
        stats = trained.stats
        mlflow.log(
            mlflow.run_id(context.run_id, context.run),
            params={f"{name}.{k}": v for k, v in trained.record.items() if k not in TRAINING_STATS},
            timings={f"{name}.words_per_second": stats["words_per_second"], f"{name}.seconds": stats["seconds"]},
            artifacts=[out["vectors"]] if vectors.nbytes <= 200e6 else [],
            artifact_dir=name,
        )
        n_vertices = len(np.load(walks["vertex_counts"], mmap_mode="r"))
        return materialized(out, mlflow_run=mlflow.link(context.run_id), check_results=[checks.finite_and_complete(name, vectors, n_vertices)], metadata={
            "vertices": vectors.shape[0], "dimensions": vectors.shape[1], **tuning, **{k: round(v, 2) for k, v in stats.items()},
            **trained.metadata,
        })

    return _asset


graph_uss = _graph_asset("uss")
graph_us = _graph_asset("us")
walks_uss = _walks_asset("uss")
walks_us = _walks_asset("us")
embedding_uss = _embedding_asset("embedding_uss", EmbeddingConfig, "DeepWalk on the user-session-song network, d=128 (evaluation).")
embedding_uss_2d = _embedding_asset("embedding_uss_2d", Embedding2DConfig, "DeepWalk on the user-session-song network, d=2 (pictures).")
embedding_us = _embedding_asset("embedding_us", EmbeddingConfig, "DeepWalk on the user-song network (baseline), d=128.")
