"""Where the engine stages run: ``local`` (this machine) and ``spark`` (a Spark cluster; ``spark_session`` configures
it). Each engine holds one implementation per stage of ``ENGINE_STAGES``, under the same names, with the same params,
writing the same files, so nothing downstream knows which engine wrote; and one per training stage
(``TRAINING_STAGES``), where the engine's trainers run: gensim and the numba kernel here, Spark ML's Word2Vec on
Spark (what a training writes depends on its trainer, not on the engine that ran it)."""

from pipeline.contract import EMBEDDING_NETWORK

# The engines, by the name a run's config gives (the engine resource's ``engine``).
LOCAL_ENGINE, SPARK_ENGINE = "local", "spark"
ENGINES = (LOCAL_ENGINE, SPARK_ENGINE)
# The stages an engine implements (the rest run where the data they need is: one machine).
ENGINE_STAGES = ("raw_events", "sessions", "splits", "graph_uss", "graph_us", "walks_uss", "walks_us", "metrics")
# The skip-gram trainings: each engine runs its own trainers (``TRAINERS``); another's trainer runs on this machine.
TRAINING_STAGES = tuple(EMBEDDING_NETWORK)
GENSIM, NUMBA, SPARK_WORD2VEC = "gensim", "numba", "spark-word2vec"
TRAINERS = {LOCAL_ENGINE: (GENSIM, NUMBA), SPARK_ENGINE: (SPARK_WORD2VEC,)}
