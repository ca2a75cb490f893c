"""Where the engine stages run: one launcher per engine (``local``: this process; ``spark``: a Spark application through
Dagster Pipes), each with its own settings, behind one face (``Launcher``); the ``engine`` resource picks one by name.

An engine runs the data-parallel stages (``pipeline.engines.ENGINE_STAGES``: the same files whichever ran them) and
the trainings (``TRAINING_STAGES``) with its own trainers (``TRAINERS``): a training whose trainer belongs to this
machine runs here under any engine; one whose trainer is Spark's needs the Spark engine.
"""

from __future__ import annotations

from typing import Protocol

import dagster as dg

from pipeline.contract import StageFiles
from pipeline.engines import ENGINE_STAGES, ENGINES, GENSIM, LOCAL_ENGINE, SPARK_ENGINE, TRAINERS, TRAINING_STAGES
from resources.engines.local import LocalLauncher
from resources.engines.spark import SparkLauncher, SparkSettings

__all__ = ["ComputeEngine", "Launcher", "LocalLauncher", "SparkLauncher", "SparkSettings"]


class Launcher(Protocol):
    name: str

    def run(self, context: dg.AssetExecutionContext, stage: str, upstream: dict[str, StageFiles], out: StageFiles,
            params: dict) -> dict: ...

    def describe(self) -> str: ...


class ComputeEngine(dg.ConfigurableResource):
    """``engine``: ``local`` (the default) runs the engine stages (a real log's import, sessions, splits, both graphs,
    both walks, metrics, and the trainings) in the step's process; ``spark`` submits each as a Spark application to
    ``spark.master``, through Dagster Pipes (``SparkSettings``: the master, extra conf, the cores a stage may take,
    the event logs, shipping the environment). Either way the stage writes the same files."""

    engine: str = LOCAL_ENGINE
    spark: SparkSettings = SparkSettings()

    def launcher(self) -> Launcher:
        if self.engine not in ENGINES:
            raise dg.Failure(f"engine {self.engine!r} is not one of {', '.join(ENGINES)} (the engine resource's config)")
        return LocalLauncher() if self.engine == LOCAL_ENGINE else SparkLauncher(self.spark)

    def run(self, context: dg.AssetExecutionContext, stage: str, upstream: dict[str, StageFiles], out: StageFiles,
            **params) -> dict:
        if stage not in ENGINE_STAGES + TRAINING_STAGES:
            raise ValueError(f"{stage} is not a stage an engine runs ({', '.join(ENGINE_STAGES + TRAINING_STAGES)})")
        launcher = self.launcher()
        if stage in TRAINING_STAGES:
            launcher = self._trainer_launcher(context, stage, launcher, params.get("trainer", GENSIM))
        return launcher.run(context, stage, upstream, out, params)

    def describe(self) -> str:
        return self.launcher().describe()

    @staticmethod
    def _trainer_launcher(context: dg.AssetExecutionContext, stage: str, launcher: Launcher, trainer: str) -> Launcher:
        """The launcher whose engine has ``trainer``: this machine's trainers run here under any engine."""
        owner = next((engine for engine in ENGINES if trainer in TRAINERS[engine]), None)
        if owner is None:
            raise dg.Failure(f"trainer {trainer!r} is not one of {', '.join(t for e in ENGINES for t in TRAINERS[e])}")
        if owner == launcher.name:
            return launcher
        if owner == SPARK_ENGINE:
            raise dg.Failure(f"{stage}: trainer {trainer} runs on the Spark engine: set the engine resource's engine to "
                             "spark (and its spark.master)")
        context.log.info(f"{stage}: {trainer} trains on this machine (the {launcher.name} engine's trainer is "
                         f"{', '.join(TRAINERS[launcher.name])})")
        return LocalLauncher()
