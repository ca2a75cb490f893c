"""What a pipeline's MLflow run is called and what it says about itself, so that two runs tell apart at a glance
in MLflow's run list: named by the log, the seed and the settings the run overrode, with the Dagster run's short id;
described by its headline results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipeline import defaults
from resources.params import config_digest
from resources.places import git_commit

# The run config's sections that do not change what a run computes.
_NOT_SETTINGS = ("loggers", "execution")
_MAX_SETTINGS = 4


def log_label(source) -> str:
    """The listening log a run reads: its file or folder's name, or the synthetic log and its size."""
    if source is None:
        return ""
    if getattr(source, "path", ""):
        return Path(source.path.rstrip("/")).name or source.path
    return f"synthetic {source.n_users:,} users"


def overrides(run_config: dict[str, Any], said: frozenset[str] = frozenset()) -> list[str]:
    """The settings a run's config sets, as ``stage.field=value`` (resources as ``resource.field=value``), sorted,
    but those in ``said`` (``resource.field``: already in the name)."""
    found = []
    for section in ("ops", "resources"):
        for name, body in sorted((run_config.get(section) or {}).items()):
            for key, value in sorted(((body or {}).get("config") or {}).items()):
                if f"{name}.{key}" not in said:
                    found.append(f"{name}.{key}={_short(value)}")
    return found


def _short(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def run_name(dagster_run_id: str, run=None, source=None, seed: int | None = None) -> str:
    """``<log> · seed <n> · <up to four settings the run overrode> · <assets, if not all> · <short id>``, from the
    DagsterRun ``run`` and, when known, the run's ``source`` resource and seed (else what the run config says)."""
    config = (run.run_config if run is not None else None) or {}
    resources = config.get("resources") or {}
    parts = [log_label(source)] if source is not None else []
    if not parts and ((resources.get("source") or {}).get("config") or {}).get("path"):
        parts.append(Path(resources["source"]["config"]["path"].rstrip("/")).name)
    if seed is None:
        seed = ((resources.get("settings") or {}).get("config") or {}).get("seed", defaults.SEED)
    parts.append(f"seed {seed}")
    said = {"source.path", "settings.seed"} | ({"source.n_users"} if source is not None else set())
    settings = overrides({k: v for k, v in config.items() if k not in _NOT_SETTINGS}, frozenset(said))
    parts += settings[:_MAX_SETTINGS] + ([f"+{len(settings) - _MAX_SETTINGS} settings"] if len(settings) > _MAX_SETTINGS else [])
    if run is not None and run.asset_selection:
        keys = sorted(k.to_user_string() for k in run.asset_selection)
        parts.append(", ".join(keys) if len(keys) <= 3 else f"{len(keys)} assets")
    parts.append(dagster_run_id[:8])
    return " · ".join(p for p in parts if p)[:250]


def creation_tags(dagster_run_id: str, run, dagster_ui: str) -> dict[str, str]:
    """The tags a pipeline run is created with: the link to its Dagster run, the code's commit and, given the
    DagsterRun, its job, the assets it selected and a digest of its config (a one-asset run says what it was)."""
    tags = {"dagster_run_url": f"{dagster_ui}/runs/{dagster_run_id}", "mlflow.source.type": "JOB",
            "mlflow.source.name": "assets.definitions"}
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if run is not None:
        selected = sorted(k.to_user_string() for k in run.asset_selection) if run.asset_selection else [f"every asset of {run.job_name}"]
        tags.update({"dagster_job": run.job_name, "dagster_assets": ", ".join(selected)[:4000],
                     "config_digest": config_digest(run.run_config)})
    return tags


def description(metrics: pl.DataFrame, k: int) -> str:
    """The run's description (MLflow's note, shown on its page): recall@k of every method in both experiments, as
    Markdown, best first in each experiment. ``metrics``: experiment, method, k, recall..."""
    at_k = metrics.filter(pl.col("k") == k)
    lines = [f"**Recall@{k}** (test sessions; every k and measure: the method runs and metrics.csv)", ""]
    for experiment, title in (("exp1", "Experiment 1, similar songs"), ("exp2", "Experiment 2, recommendation")):
        rows = at_k.filter(pl.col("experiment") == experiment).sort(["recall", "method"], descending=[True, False])
        if rows.height == 0:
            continue
        lines += [f"| {title} | recall@{k} |", "|---|---:|", *[f"| {r['method']} | {r['recall']:.4f} |" for r in rows.iter_rows(named=True)], ""]
    return "\n".join(lines).rstrip() + "\n"
