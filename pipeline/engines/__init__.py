"""Where the data-parallel stages run: ``local`` (this machine) and ``spark`` (a Spark cluster; ``spark_session``
configures it). Each engine holds one implementation per stage of ``ENGINE_STAGES``, under the same names, with the
same params, writing the same files, so nothing downstream knows which engine wrote."""

# The engines, by the name a run's config gives (the engine resource's ``engine``).
LOCAL_ENGINE, SPARK_ENGINE = "local", "spark"
ENGINES = (LOCAL_ENGINE, SPARK_ENGINE)
# The stages an engine implements (the rest run where the data they need is: one machine).
ENGINE_STAGES = ("raw_events", "sessions", "splits", "graph_uss", "graph_us", "walks_uss", "walks_us", "metrics")
# Stages only the Spark engine offers (``pipeline.engines.spark.SPARK_ONLY``): Spark ML's Word2Vec.
SPARK_ONLY_STAGES = ("word2vec",)
