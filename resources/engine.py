"""Where the data-parallel stages run: this machine, or Spark through Dagster Pipes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipeline.contract import StageFiles
from pipeline.engines import ENGINE_STAGES, ENGINES, SPARK_ONLY_STAGES
from pipeline.engines.local import LOCAL
from pipeline.io import default_home

JOB = Path(__file__).with_name("spark_job.py")


class ComputeEngine(dg.ConfigurableResource):
    """``engine``: ``local`` (the default) runs the stages of ``pipeline.engines.local.ENGINE_STAGES`` (a real log's import,
    sessions, splits, both graphs, both walks, metrics) in the step's process; ``spark`` submits each as a Spark application to ``spark_master``
    (``local[*]``, ``spark://host:port``) with ``spark-submit``, through Dagster Pipes: the job's log lines and counts
    come back to the asset. Either way the stage writes the same files. ``spark_conf``: extra ``--conf`` settings
    (for example ``spark.executor.memory``); ``spark.sql.shuffle.partitions`` defaults to one partition per 64 MB of
    the stage's input, at least two per core. The store must be a filesystem every Spark node sees at the same path.

    ``cores_per_stage``: the cores one stage's application may take on a standalone cluster (``spark.cores.max``), so
    that stages the executor runs side by side share it; 0 lets the first take every free core and the next wait
    (it says so in its log). ``event_log_dir``: where each application's event log goes, for Spark's history server
    (default ``$LATENT_HOME/spark-events``; ``none``: no event log). Each asset's metadata names its application, its
    UI while it ran, and its event log."""

    engine: str = "local"
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] = {}
    cores_per_stage: int = 0
    event_log_dir: str = ""

    def run(self, context: dg.AssetExecutionContext, stage: str, upstream: dict[str, StageFiles], out: StageFiles,
            **params) -> dict:
        if self.engine not in ENGINES:
            raise dg.Failure(f"engine {self.engine!r} is not one of {', '.join(ENGINES)} (the engine resource's config)")
        if stage not in ENGINE_STAGES + SPARK_ONLY_STAGES:
            raise ValueError(f"{stage} is not a stage an engine runs ({', '.join(ENGINE_STAGES + SPARK_ONLY_STAGES)})")
        if stage in SPARK_ONLY_STAGES and self.engine != "spark":
            raise dg.Failure(f"{stage} runs on Spark only: set the engine resource's engine to spark (and its spark_master)")
        if self.engine == "local":
            return LOCAL[stage](upstream, out, context.log.info, **params)
        if self.spark_master.startswith("sc://"):
            raise dg.Failure(f"spark_master {self.spark_master!r} is a Spark Connect server: the stages need a SparkContext "
                             "(RDDs, broadcasts, zipWithIndex), which Spark Connect does not offer; give the cluster's own "
                             "master (spark://host:7077, yarn, k8s://...) or local[*]")
        return self._spark(context, stage, upstream, out, params)

    def describe(self) -> str:
        return "local" if self.engine == "local" else f"spark ({self.spark_master})"

    def _spark(self, context, stage: str, upstream: dict[str, StageFiles], out: StageFiles, params: dict) -> dict:
        try:
            import pyspark
        except ImportError:
            raise dg.Failure("engine: spark needs pyspark: pip install -e '.[spark]'") from None
        from pipeline.engines.spark_session import spark_env, stage_partitions
        conf = {**stage_partitions(upstream, params), "spark.log.level": "WARN",  # Spark's INFO lines (thousands a stage,
                **self._operations_conf(), **self.spark_conf}  # query plans included) would bury the stage's own in the run's log
        command = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--master", self.spark_master,
                   "--name", f"latent-listening {stage} {context.run_id[:8]}",
                   *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")], str(JOB)]
        env = spark_env(self.spark_master)
        extras = {"stage": stage, "upstream": {name: str(files.folder) for name, files in upstream.items()},
                  "out": str(out.folder), "out_stage": out.stage.name, "params": params}
        context.log.info(f"{stage}: spark-submit to {self.spark_master}")
        invocation = dg.PipesSubprocessClient(env=env).run(context=context, command=command, extras=extras)
        messages = [m for m in invocation.get_custom_messages() if isinstance(m, dict) and "counts" in m]
        if not messages:
            raise dg.Failure(f"the Spark job of {stage} ended without reporting its counts")
        report = messages[-1]
        context.log.info(f"{stage}: Spark application {report['application']} done")
        context.add_asset_metadata({"spark application": report["application"], "spark UI (while it ran)": report.get("ui", ""),
                                    "spark event logs": report.get("event_log") or "off (event_log_dir: none)",
                                    "spark cores (spark.cores.max)": report.get("cores_max") or "uncapped"},
                                   asset_key=_reported_key(context, stage))
        return report["counts"]

    def _operations_conf(self) -> dict[str, str]:
        """The cores cap and the event log, from the fields above."""
        conf = {"spark.cores.max": str(self.cores_per_stage)} if self.cores_per_stage > 0 else {}
        if self.event_log_dir.lower() != "none":
            folder = Path(self.event_log_dir or default_home() / "spark-events").resolve()
            folder.mkdir(parents=True, exist_ok=True)
            conf |= {"spark.eventLog.enabled": "true", "spark.eventLog.dir": folder.as_uri()}
        return conf


def _reported_key(context: dg.AssetExecutionContext, stage: str) -> dg.AssetKey:
    """The asset whose materialization carries a stage's Spark application: the stage's own, else the first selected
    (an embedding asset for the word2vec stage)."""
    keys = sorted(context.selected_asset_keys, key=lambda k: k.to_user_string())
    return dg.AssetKey(stage) if dg.AssetKey(stage) in keys else keys[0]

