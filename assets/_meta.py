"""Small helpers shared by the assets: metadata tables and config records."""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

import dagster as dg
import polars as pl

from pipeline.contract import DATA_STAGES, KINDS, STAGES

# Who answers for each asset, shown as its owners in the Dagster UI (and searchable there): the stages of
# ``contract.DATA_STAGES`` belong to the data engineers who run the source, the rest to the recommender scientists.
# Rename the teams to your own here, in this one place.
DATA_TEAM, SCIENCE_TEAM = "team:data-engineering", "team:recsys-science"


def owners(asset: str) -> list[str]:
    return [DATA_TEAM if stage_of(asset) in DATA_STAGES else SCIENCE_TEAM]


PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"


def stage_of(asset: str) -> str:
    return next(s.name for s in STAGES.values() if asset in s.asset_names)


def imports_of(source: str) -> set[str]:
    """The pipeline modules a module's source imports, dotted under ``pipeline`` (``from pipeline.x.y import ...``,
    ``from pipeline.x import y`` where ``y`` is a module, ``import pipeline.x.y``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "pipeline" or node.module.startswith("pipeline."):
                package = node.module.removeprefix("pipeline").removeprefix(".")
                if package:
                    found.add(package)
                found |= {f"{package}.{a.name}".lstrip(".") for a in node.names
                          if (PIPELINE / package.replace(".", "/") / f"{a.name}.py").exists()}
        elif isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("pipeline.") for alias in node.names if alias.name.startswith("pipeline.")}
    return found


def _module_file(module: str) -> Path:
    path = PIPELINE / f"{module.replace('.', '/')}.py"
    return path if path.exists() else PIPELINE / module.replace(".", "/") / "__init__.py"


def science(asset: str) -> list[str]:
    """The pipeline modules behind ``asset``: its stage's modules (``contract.Stage.science``) and every pipeline module
    they import, however deep, sorted."""
    todo, seen = list(STAGES[stage_of(asset)].science), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(imports_of(_module_file(module).read_text()) - seen)
    return sorted(seen)


@functools.cache
def code_version(asset: str) -> str:
    """A hash of the source of the pipeline modules behind ``asset`` (``science``; the contract and the defaults among
    them), so the UI marks an asset whose code changed since it was materialized."""
    digest = hashlib.sha256()
    for module in sorted({*science(asset), "contract", "defaults"}):
        digest.update(_module_file(module).read_bytes())
    return digest.hexdigest()[:12]


def asset_meta(asset: str) -> dict:
    """What every asset declares besides its function: kinds, code version, owners, and its contract stage as a tag."""
    return {"kinds": set(KINDS[asset]), "code_version": code_version(asset), "owners": owners(asset),
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
