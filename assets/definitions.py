"""The Dagster ``Definitions``: every asset, check, job, schedule and resource of the pipeline."""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from assets import analysis, deepwalk, evaluation, ingest, serving
from assets.console import console
from assets.executor import tracked_executor
from assets.sensors import MLFLOW_STATUS_SENSORS, make_new_files_sensor
from pipeline.engines import LOCAL_ENGINE
from resources import ComputeEngine, DataStore, ListeningLogSource, MlflowTracking, PipelineSettings, SparkSettings

ASSETS = dg.load_assets_from_modules([ingest, deepwalk, evaluation, analysis, serving])

pipeline_job = dg.define_asset_job(
    "latent_space_pipeline",
    selection=dg.AssetSelection.all(),
    description="raw events -> sessions -> splits -> graphs -> walks -> embeddings -> baselines -> metrics -> plots",
)

weekly_schedule = dg.ScheduleDefinition(
    name="weekly_latent_space",
    job=pipeline_job,
    cron_schedule="0 3 * * 1",  # Mondays 03:00 UTC
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Rebuilds the whole latent space weekly. Off by default: switch it on in the UI (Automation).",
)

new_files_sensor = make_new_files_sensor(pipeline_job)


def default_resources(environ: Mapping[str, str] = os.environ) -> dict:
    """The resources runs get unless their config says otherwise. The listening log is the synthetic one, or
    the log at ``$LATENT_LOG_PATH`` in ``$LATENT_LOG_FORMAT`` (default auto): what runs launched from the UI, the
    schedule and the new-file sensor read, and what that sensor watches."""
    path = environ.get("LATENT_LOG_PATH", "")
    source = ListeningLogSource(format=environ.get("LATENT_LOG_FORMAT", "auto"), path=path,  # the salt's variable, not the salt
                                pseudonymise_salt_env="LATENT_LOG_SALT" if environ.get("LATENT_LOG_SALT") else "") if path else ListeningLogSource()
    return {
        "store": DataStore(),
        "source": source,
        "settings": PipelineSettings(),
        "mlflow": MlflowTracking(),
        # the engine of the data-parallel stages: $LATENT_ENGINE (local or spark) on $LATENT_SPARK_MASTER
        # ($LATENT_SPARK_CORES_PER_STAGE caps each stage's cores on a standalone cluster)
        "engine": ComputeEngine(engine=environ.get("LATENT_ENGINE", LOCAL_ENGINE), spark=SparkSettings(
            master=environ.get("LATENT_SPARK_MASTER", "local[*]"), cores_per_stage=int(environ.get("LATENT_SPARK_CORES_PER_STAGE", "0")))),
    }


defs = dg.Definitions(
    assets=ASSETS,
    jobs=[pipeline_job],
    schedules=[weekly_schedule],
    sensors=[new_files_sensor, *MLFLOW_STATUS_SENSORS],
    resources=default_resources(),
    loggers={"console": console},
    executor=tracked_executor,
)
