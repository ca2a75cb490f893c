"""The Spark engine: one implementation per data-parallel stage (``pipeline.stages.ENGINE_STAGES``), writing the
files the stage contract declares, equal to the local engine's (``pipeline.spark.stages.SPARK``).

Executors read and write the store directly: it must be a filesystem every node sees at the same path (on one
machine, any folder; on a cluster, a shared mount). Skip-gram training and ALS stay on one machine (see
docs/spark.md).
"""
