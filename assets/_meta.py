"""Small helpers shared by the assets: metadata tables and config records."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import dagster as dg
import polars as pl

from pipeline.contract import STAGES

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

# Who answers for each asset, shown as its owners in the Dagster UI (and searchable there): the log's import and
# its cut into sessions and splits belong to the data engineers who run the source; everything learned or measured
# from the splits, to the recommender scientists. Rename the teams to your own here, in this one place.
DATA_TEAM, SCIENCE_TEAM = "team:data-engineering", "team:recsys-science"
DATA_ASSETS = {"raw_events", "quarantine", "sessions", "split_plan", "splits"}


def owners(asset: str) -> list[str]:
    return [DATA_TEAM if asset in DATA_ASSETS else SCIENCE_TEAM]


# The modules of pipeline/ that hold each stage's science: an asset's code_version is their hash, so the UI marks
# an asset whose code changed since it was materialized (tests check every module named here exists).
SCIENCE: dict[str, tuple[str, ...]] = {
    "raw_events": ("importers", "inputs", "columnar", "line_split", "log_formats", "field_rules", "columns", "text_form",
                   "pseudonyms", "synthetic", "synthetic_config"),
    "sessions": ("sessions",), "split_plan": ("split_plan",), "splits": ("splits", "split_plan"),
    "graph": ("graph",), "walks": ("walks",), "embedding": ("embed", "training", "checkpoints", "trainers", "skipgram", "walk_reader", "huffman"),
    "validation_split": ("splits", "split_plan"), "als_tuning": ("tuning", "baselines"), "skipgram_tuning": ("tuning", "embed", "trainers", "skipgram", "walk_reader", "huffman"),
    "baselines": ("baselines",), "metrics": ("experiments", "evaluate", "methods", "nearest", "measures", "queries", "sknn", "sparse"),
    "model": ("serving",), "behaviour": ("behaviour",), "plots": ("plots", "figures"), "explorer": ("explorer", "egonet"),
}
PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"


def stage_of(asset: str) -> str:
    return next(s.name for s in STAGES.values() if asset in s.asset_names)


@functools.cache
def code_version(asset: str) -> str:
    """A hash of the source of the pipeline modules behind ``asset`` (and of the contract, which fixes its files)."""
    family = "raw_events" if asset == "quarantine" else asset if asset in SCIENCE else next(
        k for k in SCIENCE if asset.startswith(k + "_"))
    digest = hashlib.sha256()
    for module in (*SCIENCE[family], "contract", "defaults"):
        digest.update((PIPELINE / f"{module}.py").read_bytes())
    return digest.hexdigest()[:12]


def asset_meta(asset: str) -> dict:
    """What every asset declares besides its function: kinds, code version, owners, and its contract stage as a tag."""
    return {"kinds": KINDS[asset], "code_version": code_version(asset), "owners": owners(asset),
            "tags": {"stage": stage_of(asset)}}


def md_table(frame: pl.DataFrame, float_digits: int = 4) -> dg.MetadataValue:
    """A polars frame as a Markdown table for the Dagster UI."""
    def cell(v):
        return f"{v:.{float_digits}f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else "—" if v is None else str(v)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * frame.width
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return dg.MetadataValue.md("\n".join([header, rule, *rows]))


def config_params(prefix: str, config: dg.Config) -> dict:
    """A stage's config as MLflow params named ``<stage>.<field>``."""
    return {f"{prefix}.{k}": v for k, v in config.model_dump().items()}
