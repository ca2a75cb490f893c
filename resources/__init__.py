"""The outside systems as Dagster resources: where data lives, where it comes from, MLflow."""

from resources.engines import ComputeEngine, SparkSettings
from resources.mlflow_tracking import MlflowTracking
from resources.settings import PipelineSettings
from resources.source import ListeningLogSource
from resources.storage import DataStore

__all__ = ["ComputeEngine", "DataStore", "ListeningLogSource", "MlflowTracking", "PipelineSettings", "SparkSettings"]
