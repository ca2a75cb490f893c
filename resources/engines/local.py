"""The local engine's launcher: a stage runs in the Dagster step's own process."""

from __future__ import annotations

import dagster as dg

from pipeline.contract import StageFiles
from pipeline.engines import LOCAL_ENGINE
from pipeline.engines.local import LOCAL


class LocalLauncher:
    """Runs ``pipeline.engines.local.LOCAL[stage]`` here, its progress lines in the step's log. No settings."""

    name = LOCAL_ENGINE

    def run(self, context: dg.AssetExecutionContext, stage: str, upstream: dict[str, StageFiles], out: StageFiles,
            params: dict) -> dict:
        return LOCAL[stage](upstream, out, context.log.info, **params)

    def describe(self) -> str:
        return LOCAL_ENGINE
