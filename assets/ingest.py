"""raw events -> sessions -> split plan -> splits."""


from dataclasses import asdict

import dagster as dg
import polars as pl

from assets import checks
from assets._meta import asset_meta, config_params, md_table
from assets.config import SessionConfig, SplitConfig
from assets.stage_io import begin, guarded, materialized, new_version
from pipeline import defaults
from pipeline import split_plan as planner
from pipeline.contract import upstream_assets
from pipeline.io import atomic_path, write_json
from pipeline.splits import SplitParams
from resources import ComputeEngine, DataStore, ListeningLogSource, MlflowTracking, PipelineSettings
from resources.params import params_of

GROUP = "data"


@dg.multi_asset(
    group_name=GROUP,
    specs=[
        dg.AssetSpec("raw_events", group_name=GROUP, **asset_meta("raw_events"), description="The listening log in the canonical schema (timestamp, user, "
                     "device, song, artist, genre, language), as Parquet: the seeded synthetic log or an imported real one."),
        dg.AssetSpec("quarantine", group_name=GROUP, **asset_meta("quarantine"), description="Input rows that were not accepted, each with its file, row "
                     "and reason. Accepted + quarantined = read."),
    ],
    check_specs=[checks.RECONCILE],
    can_subset=True,  # raw_events alone, or quarantine alone: one import writes both files; the selected ones are recorded
)
@guarded
def raw_events(
    context: dg.AssetExecutionContext,
    source: ListeningLogSource,
    store: DataStore,
    settings: PipelineSettings,
    mlflow: MlflowTracking,
    engine: ComputeEngine,
):
    out = new_version(context, store)
    summary = source.write_events(out, seed=settings.seed, log=context.log.info,
                                  run_import=lambda **params: engine.run(context, "raw_events", {}, out, **params))
    preview = pl.read_parquet(out["events"], n_rows=5)
    quarantine = pl.read_parquet(out["quarantine"])
    counts = {k: summary[k] for k in ("read", "accepted", "quarantined")}
    mlflow.log(
        mlflow.run_id(context.run_id, context.run),
        params={**{f"source.{k}": v for k, v in source.model_dump().items()}, "source.salt_fingerprint": summary.get("salt_fingerprint"),
                "seed": settings.seed,
                "workers": settings.workers},
        counts={f"raw.{k}": v for k, v in counts.items()},
    )
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if "raw_events" in selected:
        yield materialized(out, mlflow_run=mlflow.link(context.run_id), asset_key="raw_events", check_results=[checks.reconcile(out)], metadata={
            **counts, "source": summary["source"], "preview": md_table(preview),
            **({"salt fingerprint": summary["salt_fingerprint"]} if summary.get("salt_fingerprint") else {}),
            "device": "present" if summary["has_device"] else "absent: sessions are cut by the time gap alone",
        })
    if "quarantine" not in selected:
        return
    reasons = pl.DataFrame({"reason": list(summary["reasons"]), "rows": list(summary["reasons"].values())}, schema={"reason": pl.String, "rows": pl.Int64})
    yield materialized(out, mlflow_run=mlflow.link(context.run_id), asset_key="quarantine", metadata={
        "quarantined": quarantine.height, "reasons": md_table(reasons.sort("rows", descending=True)),
        "first rows": md_table(quarantine.head(10)),
    })


@dg.asset(group_name=GROUP, deps=upstream_assets("sessions"), **asset_meta("sessions"), check_specs=[checks.SESSION_RULE],
          description="Events cut into sessions: a new session after a gap of session_gap_minutes or more, or on a device change.")
@guarded
def sessions(context: dg.AssetExecutionContext, config: SessionConfig, store: DataStore, mlflow: MlflowTracking,
             engine: ComputeEngine) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    raw = upstream["raw_events"]
    counts = engine.run(context, "sessions", upstream, out, **config.model_dump())
    table = pl.read_parquet(out["sessions"])
    has_device = bool(pl.scan_parquet(raw["events"]).select(pl.col("device").is_not_null().any()).collect().item())
    lengths = table["n_songs"]
    mlflow.log(mlflow.run_id(context.run_id, context.run), params=config_params("sessions", config), counts={"sessions.count": table.height})
    return materialized(out, mlflow_run=mlflow.link(context.run_id), check_results=[checks.session_rule(out, config.session_gap_minutes, config.split_on_device_change)], metadata={
        "sessions": table.height,
        "events": int(lengths.sum()),
        "engine": engine.describe(),
        **{k: v for k, v in counts.items() if k not in ("events", "sessions")},  # chunks sorted in memory, or Spark's partitions
        "songs per session (median)": float(lengths.median()),
        f"sessions with fewer than {defaults.MIN_SESSION_SONGS} songs": int((lengths < defaults.MIN_SESSION_SONGS).sum()),
        "rule": "time gap and device" if (config.split_on_device_change and has_device) else "time gap alone (no device in the log)",
    })


@dg.asset(group_name=GROUP, deps=upstream_assets("split_plan"), **asset_meta("split_plan"),
          description="The split planner: for candidate cutoffs and (train, test) session counts, the users, sessions and events "
                      "each real-life split keeps, and the one its rule recommends (used by splits with cutoff: auto).")
@guarded
def split_plan(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    table = planner.plan(pl.read_parquet(upstream["sessions"]["sessions"]))
    with atomic_path(out["plan"]) as tmp:
        table.write_parquet(tmp)
    best = planner.recommend(table)
    write_json(out["recommendation"], {**asdict(best), "why": best.why, "min_session_songs": defaults.MIN_SESSION_SONGS})
    return materialized(out, metadata={"recommended": f"{best.cutoff}, {best.train_sessions} train and {best.test_sessions} test "
                                                      f"sessions: {best.why}", **plan_tables(table)})


def plan_tables(table: pl.DataFrame) -> dict:
    """The planner's table as one markdown table of users per (train, test) pair, a column per pair."""
    return {"users kept per cutoff and train/test sessions": md_table(planner.users_by_cutoff(table))}


@dg.asset(group_name=GROUP, deps=upstream_assets("splits"), **asset_meta("splits"), check_specs=[checks.NO_COLD_START, checks.SPLIT_SIDES],
          description="The real-life split by the cutoff date (train / test) and the paper's Table 1; cutoff: auto takes the "
                      "split planner's recommendation.")
@guarded
def splits(context: dg.AssetExecutionContext, config: SplitConfig, store: DataStore, mlflow: MlflowTracking,
           engine: ComputeEngine) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    try:
        params, chosen = planner.resolve(params_of(config, SplitParams), upstream["split_plan"], upstream["sessions"]["sessions"],
                                         config.validation_sessions)
    except planner.PlanError as exc:
        raise dg.Failure(f"the run's plan cannot work: {exc}") from None
    counts = engine.run(context, "splits", {"sessions": upstream["sessions"]}, out, **asdict(params))
    table1 = pl.read_parquet(out["table1"])
    if table1["events"].min() == 0:
        raise dg.Failure(
            f"the split left {table1['events'][0]} train and {table1['events'][1]} test events: too few users have "
            f"{params.train_sessions} sessions before {params.cutoff} and {params.test_sessions} after it; "
            "see the split_plan asset for the choices that keep users, or set cutoff: auto",
            metadata={"counts": counts},
        )
    write_json(out["chosen"], chosen)
    mlflow.log(
        mlflow.run_id(context.run_id, context.run),
        params={**config_params("splits", config), "splits.chosen_cutoff": params.cutoff,
                "splits.chosen_train_sessions": params.train_sessions, "splits.chosen_test_sessions": params.test_sessions},
        metrics={f"table1.{row['set']}.{k}": v for row in table1.iter_rows(named=True) for k, v in row.items() if k != "set"},
        dicts={"table1.json": table1.to_dicts(), "split_counts.json": counts},
    )
    sets = {row["set"]: {k: v for k, v in row.items() if k != "set"} for row in table1.iter_rows(named=True)}
    mlflow.log_datasets(mlflow.run_id(context.run_id, context.run), [
        {"name": name, "path": out[name], "context": "training" if name == "train" else "testing", "counts": sets[name],
         "schema": out.stage.files[name].schema} for name in ("train", "test")])
    return materialized(out, mlflow_run=mlflow.link(context.run_id),
                        check_results=[checks.no_cold_start(out), checks.split_sides(out, params.cutoff)],
                        metadata={"Table 1": md_table(table1), "split": chosen["how"], "engine": engine.describe(), **counts,
                                  "what each stage gets of every user": md_table(pl.DataFrame(
                                      {"stage": list(chosen["stages"]), "gets": list(chosen["stages"].values())})),
                                  **plan_tables(pl.read_parquet(upstream["split_plan"]["plan"]))})
