"""Small helpers shared by the assets: metadata tables and config records."""

from __future__ import annotations

import dagster as dg
import polars as pl

# What each asset is made with, shown as its kinds in the Dagster UI (mlflow: it logs to the MLflow run).
KINDS: dict[str, set[str]] = {
    "raw_events": {"polars", "parquet", "mlflow"}, "quarantine": {"parquet"},
    "sessions": {"polars", "mlflow"}, "split_plan": {"polars"}, "splits": {"polars", "mlflow"},
    "graph_uss": {"numpy"}, "graph_us": {"numpy"},
    "walks_uss": {"numba", "mlflow"}, "walks_us": {"numba", "mlflow"},
    "embedding_uss": {"gensim", "mlflow"}, "embedding_uss_2d": {"gensim", "mlflow"}, "embedding_us": {"gensim", "mlflow"},
    "validation_split": {"polars", "mlflow"}, "als_tuning": {"implicit", "mlflow"}, "skipgram_tuning": {"gensim", "mlflow"},
    "baselines": {"implicit"}, "metrics": {"numba", "numpy", "mlflow"},
    "model": {"mlflow", "pandas"},
    "behaviour": {"scikit-learn", "mlflow"}, "plots": {"matplotlib", "mlflow"}, "explorer": {"html", "networkx", "mlflow"},
}


def md_table(frame: pl.DataFrame, float_digits: int = 4) -> dg.MetadataValue:
    """A polars frame as a Markdown table for the Dagster UI."""
    def cell(v):
        return f"{v:.{float_digits}f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * frame.width
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return dg.MetadataValue.md("\n".join([header, rule, *rows]))


def config_params(prefix: str, config: dg.Config) -> dict:
    """A stage's config as MLflow params named ``<stage>.<field>``."""
    return {f"{prefix}.{k}": v for k, v in config.model_dump().items()}
