"""What the paper-scale run is made of: its stages in the asset graph's order, where its home keeps them.

A stage is one Dagster run of the assets of one stage of the contract (``raw_events`` materializes
``raw_events`` and ``quarantine``). The order is the asset graph's: every stage after the stages it
reads; among stages ready at once, those the metrics need come first (the 128-d evaluation before
the pictures), then the contract's order.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipeline.engines import TRAINING_STAGES

ROOT = Path(__file__).resolve().parent.parent
PAUSED = 75  # exit code of a stage whose training stopped at its time budget (EX_TEMPFAIL)
STAGE_TAG = "paper_scale_stage"
TRAINING = set(TRAINING_STAGES)
NOT_ENDED = ("NOT_STARTED", "STARTING", "STARTED")


def stage_order() -> list[tuple[str, list[str]]]:
    """(stage, its asset keys) in dependency order, from the Definitions' asset graph."""
    from assets.definitions import defs
    from pipeline.contract import STAGE_OF_ASSET, STAGES

    graph = defs.resolve_asset_graph()
    reads: dict[str, set[str]] = {name: set() for name in STAGES}
    for key in graph.get_all_asset_keys():
        stage = STAGE_OF_ASSET[key.to_user_string()]
        reads[stage] |= {STAGE_OF_ASSET[p.to_user_string()] for p in graph.get(key).parent_keys} - {stage}
    needed, todo = set(), ["metrics"]
    while todo:  # the metrics' ancestors
        for parent in reads[todo.pop()] - needed:
            needed.add(parent)
            todo.append(parent)
    position = {name: i for i, name in enumerate(STAGES)}
    order: list[str] = []
    while len(order) < len(reads):
        ready = [s for s in reads if s not in order and reads[s] <= set(order)]
        order.append(min(ready, key=lambda s: (s not in needed and s != "metrics", position[s])))
    return [(name, list(STAGES[name].asset_names)) for name in order]


RUN_ORDER = stage_order()  # (stage, its assets) in the order the runner materializes them


def set_home(home: Path) -> None:
    """Point the data, Dagster and MLflow at ``home`` (before anything imports them)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["LATENT_HOME"] = str(home)
    os.environ["LATENT_DATA_DIR"] = str(home / "store")
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    (home / "mlflow").mkdir(exist_ok=True)
    (home / "dagster").mkdir(exist_ok=True)
    if not (home / "dagster" / "dagster.yaml").exists():
        shutil.copy(ROOT / "scripts" / "dagster.yaml", home / "dagster" / "dagster.yaml")


def store_of(home: Path):
    from pipeline.contract import Store

    return Store(home / "store")


def instance_of(home: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home / "dagster"))


