"""The Spark engine's stages, under the names and with the params of ``pipeline.stages.LOCAL``; each takes the
Spark session first."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from pipeline.spark import network, tables
from pipeline.stages import BUILDERS, ENGINE_STAGES

SPARK: dict[str, Callable[..., dict]] = {
    "sessions": tables.sessions,
    "splits": tables.splits,
    **{f"graph_{n}": partial(network.graph, n) for n in BUILDERS},
    **{f"walks_{n}": partial(network.walks, n) for n in BUILDERS},
}
assert tuple(SPARK) == ENGINE_STAGES
