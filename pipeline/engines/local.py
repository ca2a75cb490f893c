"""The local engine: every stage of ``ENGINE_STAGES`` and ``TRAINING_STAGES`` run in this process, on this machine.

Each is the stage function of its concern (``stage(upstream, out, log=None, **params) -> counts``, the signature of
``pipeline.contract``); the Spark engine (``pipeline.engines.spark.SPARK``) holds one implementation per stage under
the same names, with the same params, writing the same files.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from pipeline.contract import EMBEDDING_NETWORK, NETWORKS, graph_stage, walks_stage
from pipeline.embedding.embedding import embedding
from pipeline.engines import ENGINE_STAGES, TRAINING_STAGES
from pipeline.evaluation.metrics import metrics
from pipeline.ingest.raw_events import raw_events
from pipeline.network.graph import graph
from pipeline.network.walks import walks
from pipeline.sessions.sessions import sessions
from pipeline.sessions.splits import splits

LOCAL: dict[str, Callable[..., dict]] = {
    "raw_events": raw_events,
    "sessions": sessions,
    "splits": splits,
    **{graph_stage(n): partial(graph, n) for n in NETWORKS},
    **{walks_stage(n): partial(walks, n) for n in NETWORKS},
    "metrics": metrics,  # (params: EvaluationConfig's fields and the seed)
    # gensim or the numba kernel, resumable (params: the trainer, the skip-gram's settings, the checkpoints' folder)
    **{name: partial(embedding, walks=walks_stage(n)) for name, n in EMBEDDING_NETWORK.items()},
}
assert tuple(LOCAL) == ENGINE_STAGES + TRAINING_STAGES
