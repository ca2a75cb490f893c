"""The Spark engine's launcher: each stage a Spark application (``spark-submit`` of ``spark_job.py``) driven through
Dagster Pipes, its log lines and counts coming back to the asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipeline.contract import StageFiles
from pipeline.engines import SPARK_ENGINE
from pipeline.io import default_home

JOB = Path(__file__).with_name("spark_job.py")


class SparkSettings(dg.Config):
    """``master``: where the applications go (``local[*]``, ``spark://host:port``, ``yarn``, ``k8s://...``).
    ``conf``: extra ``--conf`` settings (for example ``spark.executor.memory``); ``spark.sql.shuffle.partitions``
    defaults to one partition per 64 MB of the stage's input, at least two per core. The store must be a filesystem
    every Spark node sees at the same path.

    ``cores_per_stage``: the cores one stage's application may take on a standalone cluster (``spark.cores.max``), so
    that stages the executor runs side by side share it; 0 lets the first take every free core and the next wait
    (it says so in its log). ``event_log_dir``: where each application's event log goes, for Spark's history server
    (default ``$LATENT_HOME/spark-events``; ``none``: no event log). Each asset's metadata names its application, its
    UI while it ran, and its event log.

    ``ship_environment``: on a cluster (any master but ``local[...]``), pack this Python environment and the project's
    code into one archive (``pipeline.engines.spark_env``, built once per environment under
    ``$LATENT_HOME/spark-env``) that Spark unpacks beside each executor, so a worker needs only Java and Spark;
    false: the workers have the project's environment at the driver's path."""

    master: str = "local[*]"
    conf: dict[str, str] = {}
    cores_per_stage: int = 0
    event_log_dir: str = ""
    ship_environment: bool = True


class SparkLauncher:
    """Submits a stage of ``pipeline.engines.spark.SPARK`` as a Spark application with the settings it owns."""

    name = SPARK_ENGINE

    def __init__(self, settings: SparkSettings) -> None:
        self.settings = settings

    def describe(self) -> str:
        return f"spark ({self.settings.master})"

    def run(self, context: dg.AssetExecutionContext, stage: str, upstream: dict[str, StageFiles], out: StageFiles,
            params: dict) -> dict:
        master = self.settings.master
        if master.startswith("sc://"):
            raise dg.Failure(f"spark master {master!r} is a Spark Connect server: the stages need a SparkContext "
                             "(RDDs, broadcasts, zipWithIndex), which Spark Connect does not offer; give the cluster's own "
                             "master (spark://host:7077, yarn, k8s://...) or local[*]")
        try:
            import pyspark
        except ImportError:
            raise dg.Failure("engine: spark needs pyspark: pip install -e '.[spark]'") from None
        from pipeline.engines.spark_env import shipping_conf
        from pipeline.engines.spark_session import spark_env, stage_partitions
        archive = self.environment(context)
        # Spark's INFO lines (thousands a stage, query plans included) would bury the stage's own in the run's log
        conf = {**stage_partitions(upstream, params), "spark.log.level": "WARN", **(shipping_conf(archive) if archive else {}),
                **self.operations_conf(), **self.settings.conf}
        command = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--master", master,
                   "--name", f"latent-listening {stage} {context.run_id[:8]}",
                   *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")], str(JOB)]
        extras = {"stage": stage, "upstream": {name: str(files.folder) for name, files in upstream.items()},
                  "out": str(out.folder), "params": params}
        context.log.info(f"{stage}: spark-submit to {master}")
        invocation = dg.PipesSubprocessClient(env=spark_env(master)).run(context=context, command=command, extras=extras)
        messages = [m for m in invocation.get_custom_messages() if isinstance(m, dict) and "counts" in m]
        if not messages:
            raise dg.Failure(f"the Spark job of {stage} ended without reporting its counts")
        report = messages[-1]
        context.log.info(f"{stage}: Spark application {report['application']} done")
        context.add_asset_metadata({"spark application": report["application"], "spark UI (while it ran)": report.get("ui", ""),
                                    "spark environment": archive.name if archive else "the workers' own (not shipped)",
                                    "spark event logs": report.get("event_log") or "off (event_log_dir: none)",
                                    "spark cores (spark.cores.max)": report.get("cores_max") or "uncapped"},
                                   asset_key=dg.AssetKey(stage))
        return report["counts"]

    def environment(self, context: dg.AssetExecutionContext) -> Path | None:
        """The packed environment the executors run, for a cluster master when ``ship_environment``; else None."""
        if not self.settings.ship_environment or self.settings.master.startswith("local"):
            return None
        from pipeline.engines.spark_env import packed_environment
        return packed_environment(default_home() / "spark-env", context.log.info)


    def operations_conf(self) -> dict[str, str]:
        """The cores cap and the event log, from the settings."""
        conf = {"spark.cores.max": str(self.settings.cores_per_stage)} if self.settings.cores_per_stage > 0 else {}
        if self.settings.event_log_dir.lower() != "none":
            folder = Path(self.settings.event_log_dir or default_home() / "spark-events").resolve()
            folder.mkdir(parents=True, exist_ok=True)
            conf |= {"spark.eventLog.enabled": "true", "spark.eventLog.dir": folder.as_uri()}
        return conf
