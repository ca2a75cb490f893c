"""Where each materialization lives, and which upstream materialization a stage reads.

Every materialization writes a fresh folder of its own (``<store>/<stage>/runs/<run id>/``, the
files the contract declares) and records it as ``location`` in its metadata. A stage reads the
folders recorded by the upstream materializations of its own run (or of the run it re-executes);
an upstream stage the run did not materialize is read at its latest materialization. Runs side by
side therefore never read each other's files.

When a materialization is complete its folder gets a manifest (each file's size and digest), and a stage
verifies every folder it reads against it before reading (``pipeline.manifest``).

Retention: when a stage starts a new materialization, its older folders go, except the newest
``keep_materializations - 1`` materialized ones and those of runs still in progress (a run still
reading them). A killed run's partial folder goes with them: a run whose processes are gone is marked failed
(``assets.reconcile``).
"""

from __future__ import annotations

import errno
import functools
import inspect
import re
import shutil
from pathlib import Path

import dagster as dg
from dagster import DagsterEventType

from assets.reconcile import fail_dead, is_local
from pipeline.contract import STAGE_OF_ASSET, STAGES, StageFiles, Store
from pipeline.manifest import IntegrityError, verify, write_manifest
from resources import DataStore

LOCATION = "location"
MLFLOW_RUN = "MLflow run"


def store_of(store: DataStore) -> Store:
    return Store(store.root())


def stage_of(context: dg.AssetExecutionContext) -> str:
    return STAGE_OF_ASSET[next(iter(context.assets_def.keys)).path[-1]]


def _asset_key(stage: str) -> dg.AssetKey:
    return dg.AssetKey(STAGES[stage].asset_names[0])


def _location(entry) -> Path:
    return Path(entry.asset_materialization.metadata[LOCATION].value)


def _in_run(instance: dg.DagsterInstance, run_id: str, key: dg.AssetKey):
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    found = [r.event_log_entry for r in records if r.event_log_entry.asset_materialization.asset_key == key]
    return found[-1] if found else None


def located(instance: dg.DagsterInstance, run: dg.DagsterRun | None, stage: str) -> StageFiles:
    """The materialization of ``stage`` that ``run`` reads: its own (or its parent runs'), else the latest."""
    key = _asset_key(stage)
    entry = None
    while run is not None and entry is None:
        entry = _in_run(instance, run.run_id, key)
        run = instance.get_run_by_id(run.parent_run_id) if run.parent_run_id else None
    entry = entry or instance.get_latest_materialization_event(key)
    if entry is None:
        raise dg.Failure(f"{stage} has never been materialized in this Dagster instance: materialize it (or the whole job) first")
    if LOCATION not in entry.asset_materialization.metadata:
        raise dg.Failure(f"the latest materialization of {stage} predates run folders (it records no location): materialize {stage} again")
    folder = _location(entry)
    if not folder.is_dir():
        raise dg.Failure(f"the materialization of {stage} at {folder} has been removed (retention keeps the newest few): "
                         f"materialize {stage} again")
    return StageFiles(stage, folder)


def inputs(context: dg.AssetExecutionContext) -> dict[str, StageFiles]:
    """The folders of the stages this asset's stage reads (and only those), each checked against what its stage
    wrote (``pipeline.manifest``): a file cut short, changed or removed since fails this stage naming it."""
    reader = stage_of(context)
    found = {name: located(context.instance, context.dagster_run, name) for name in STAGES[reader].reads}
    for name, files in found.items():
        try:
            checked = verify(files.folder)
        except IntegrityError as e:
            raise dg.Failure(f"{reader}: {name}'s {e}. Materialize {name} again.") from None
        if checked is None:
            context.log.warning(f"{reader}: {name} at {files.folder} predates manifests: read unverified")
    return found


def new_version(context: dg.AssetExecutionContext, store: DataStore) -> StageFiles:
    """This run's fresh folder for the asset's stage, after the retention sweep."""
    stage = stage_of(context)
    files = store_of(store).version(stage, context.run_id)
    removed = sweep(context.instance, store_of(store), stage, store.keep_materializations, context.run_id)
    if removed:
        context.log.info(f"{stage}: removed {len(removed)} older materialization(s): {', '.join(removed)}")
    shutil.rmtree(files.folder, ignore_errors=True)  # an earlier attempt of this run
    try:
        files.folder.mkdir(parents=True)
        probe = files.folder / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise dg.Failure(f"{stage} cannot write its folder {files.folder}: {exc.strerror} (a read-only or full store?)") from None
    free_gb = shutil.disk_usage(files.folder).free / 1e9
    if free_gb < store.min_free_gb:
        raise dg.Failure(f"{stage}: only {free_gb:.2f} GB free where it writes ({files.folder}); the store's min_free_gb is "
                         f"{store.min_free_gb:g}. Free some space (older materializations: keep_materializations) and rerun.")
    return files


def discard(files: StageFiles) -> None:
    """Remove a folder this run began and will not finish (a training paused at its budget)."""
    shutil.rmtree(files.folder, ignore_errors=True)


def begin(context: dg.AssetExecutionContext, store: DataStore) -> tuple[dict[str, StageFiles], StageFiles]:
    """What a stage reads (``inputs``) and the fresh folder it writes (``new_version``)."""
    upstream = inputs(context)
    return upstream, new_version(context, store)


def sweep(instance: dg.DagsterInstance, store: Store, stage: str, keep: int, current: str) -> list[str]:
    """Remove the folders of ``stage`` that are neither among its newest ``keep - 1`` materializations,
    nor the current run's, nor a run's still in progress, nor of a run this instance does not know (another
    instance's). Returns the removed folder names."""
    runs = store.runs(stage)
    if not runs.is_dir():
        return []
    recent = instance.fetch_materializations(_asset_key(stage), limit=max(keep - 1, 0)).records if keep > 1 else []
    keepers = {current} | {_location(r.event_log_entry).name for r in recent}
    removed = []
    for folder in sorted(runs.iterdir()):
        if folder.name in keepers:
            continue
        run = instance.get_run_by_id(folder.name)
        if run is None:
            continue  # another instance's folder (a store two instances share): only that instance may sweep it
        if not run.is_finished and not (is_local(instance) and fail_dead(instance, run)):
            continue  # a run in progress may still read it; a dead one is marked failed and swept
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def materialized(files: StageFiles, metadata: dict | None = None, asset_key: str | None = None,
                 check_results: list[dg.AssetCheckResult] | None = None, mlflow_run=None) -> dg.MaterializeResult:
    """The materialization of ``files``: its metadata with the folder recorded as ``location`` (and the
    link to the MLflow run it logged to)."""
    links = {MLFLOW_RUN: mlflow_run} if mlflow_run is not None else {}
    write_manifest(files.folder)  # what a reader verifies (pipeline.manifest)
    return dg.MaterializeResult(asset_key=asset_key, check_results=check_results,
                                metadata={**results_first(metadata or {}), LOCATION: dg.MetadataValue.path(str(files.folder)), **links})


OPERATIONAL = re.compile(r"seconds|per_second|words/s|steps/s|\bengine\b|checkpoint|shards|units_|attempts")


def results_first(metadata: dict) -> dict:
    """The metadata in the order a reader wants it in the UI: what the stage found first, how long it took and
    what ran it (``OPERATIONAL``: timings, rates, the engine, checkpoints) after; each group in its own order."""
    timing = {k: v for k, v in metadata.items() if OPERATIONAL.search(k)}
    return {**{k: v for k, v in metadata.items() if k not in timing}, **timing}


def latest(instance: dg.DagsterInstance) -> dict[str, StageFiles]:
    """The latest materialization of every stage that has one (for the report and the scripts)."""
    out = {}
    for stage in STAGES:
        entry = instance.get_latest_materialization_event(_asset_key(stage))
        if entry is not None and LOCATION in entry.asset_materialization.metadata and _location(entry).is_dir():
            out[stage] = StageFiles(stage, _location(entry))
    return out


def of_result(result) -> dict[str, StageFiles]:
    """The folders a finished run (``materialize`` / ``execute_job`` result) materialized, by stage."""
    out = {}
    for event in result.get_asset_materialization_events():
        m = event.materialization
        if LOCATION in m.metadata:
            stage = STAGE_OF_ASSET[m.asset_key.path[-1]]
            out[stage] = StageFiles(stage, Path(m.metadata[LOCATION].value))
    return out


def guarded(body):
    """An asset's body whose writes may run out of disk: a write that does fails the stage with one message naming it
    and the folder, after removing this run's partial folder of it and any half-written checkpoint (which also gives
    Dagster back the space to record the failure, when its home is on the same disk)."""
    if inspect.isgeneratorfunction(body):
        @functools.wraps(body)
        def stages(*args, **kwargs):
            try:
                yield from body(*args, **kwargs)
            except Exception as e:
                _out_of_space(e, args, kwargs)
                raise
        return stages

    @functools.wraps(body)
    def stage(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except Exception as e:
            _out_of_space(e, args, kwargs)
            raise
    return stage


def is_out_of_space(e: BaseException) -> bool:
    """An OSError of a full disk or quota, or a library's error that wraps one (polars: "(os error 28)")."""
    return (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
        text in str(e) for text in ("No space left on device", "os error 28", "Disk quota exceeded"))


def _out_of_space(e: Exception, args: tuple, kwargs: dict) -> None:
    if not is_out_of_space(e):
        return
    context, store = kwargs.get("context", args[0] if args else None), kwargs.get("store")
    stage = stage_of(context)
    where = store_of(store).version(stage, context.run_id).folder if store is not None else None
    if where is not None:
        shutil.rmtree(where, ignore_errors=True)
        for partial in store_of(store).checkpoints(stage).rglob("*.partial*"):
            shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)
    near = where or Path(getattr(e, "filename", None) or ".")
    while not near.exists():
        near = near.parent
    free = shutil.disk_usage(near).free / 1e6
    raise dg.Failure(
        f"{stage}: out of disk space writing {getattr(e, 'filename', None) or where} ({free:,.0f} MB free there after removing "
        f"this run's partial folder {where}). Free some space (a store with keep_materializations: 1 keeps one copy of each "
        f"stage) or point LATENT_HOME at a larger disk, and materialize {stage} again."
    ) from None
