"""The data a run used, as MLflow dataset inputs."""

from __future__ import annotations

from pathlib import Path

from pipeline.io import file_digest

_MLFLOW_TYPES = {"String": "string", "Int64": "long", "Int32": "integer", "UInt32": "integer", "Float64": "double",
                 "Float32": "float", "Boolean": "boolean", "Datetime": "datetime"}


def dataset_inputs(datasets: list[dict]) -> list:
    """MLflow ``DatasetInput``s of ``datasets``: each dict has ``name``, ``path`` (a file), ``context`` (training,
    testing...), ``schema`` (column -> polars type) and ``counts`` (shown as tags); the digest is the file's SHA-256,
    so two runs on the same data show the same dataset."""
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.types.schema import ColSpec, Schema

    inputs = []
    for d in datasets:
        with warnings.catch_warnings():  # two registered sources read local files; both are the same
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(Path(d["path"]).resolve().as_uri())
        schema = Schema([ColSpec(_MLFLOW_TYPES.get(str(t).split("(")[0], "string"), c) for c, t in d["schema"].items()])
        dataset = MetaDataset(source=source, name=d["name"], digest=file_digest(d["path"]), schema=schema)
        tags = [InputTag("mlflow.data.context", d["context"]), *[InputTag(k, str(v)) for k, v in d["counts"].items()]]
        inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=tags))
    return inputs
