"""The Spark application of one engine stage, launched by ``resources.engines.spark.SparkLauncher`` with spark-submit.

It reads its stage, folders and params from Dagster Pipes, runs ``pipeline.engines.spark.SPARK[stage]`` and reports
its counts back (``report_custom_message``); its log lines appear in the asset's logs.
"""

from __future__ import annotations

from dagster_pipes import open_dagster_pipes
from pyspark.sql import SparkSession

from pipeline.contract import StageFiles
from pipeline.engines.spark import SPARK
from pipeline.engines.spark_session import application, configure, say_while_waiting


def main() -> None:
    with open_dagster_pipes() as pipes:
        stage = pipes.get_extra("stage")
        upstream = {name: StageFiles(name, folder) for name, folder in pipes.get_extra("upstream").items()}
        out = StageFiles(stage, pipes.get_extra("out"))
        spark = configure(SparkSession.builder.getOrCreate())
        context = spark.sparkContext
        pipes.log.info(f"{stage} on {context.master}: application {context.applicationId}, "
                       f"{context.defaultParallelism} cores")
        waiting = say_while_waiting(spark, pipes.log.warning)
        try:
            counts = SPARK[stage](spark, upstream, out, pipes.log.info, **pipes.get_extra("params"))
            pipes.report_custom_message({"counts": counts, **application(spark)})
        finally:
            waiting.set()
            spark.stop()


if __name__ == "__main__":
    main()
