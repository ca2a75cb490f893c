"""The outside systems as Dagster resources: where data lives, where it comes from, MLflow."""

from resources.mlflow_tracking import MlflowTracking
from resources.settings import PipelineSettings
from resources.source import ListeningLogSource
from resources.storage import DataStore

__all__ = ["DataStore", "ListeningLogSource", "MlflowTracking", "PipelineSettings"]
