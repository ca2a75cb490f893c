"""raw events -> sessions -> split plan -> splits."""


from dataclasses import asdict

import dagster as dg

from assets import checks
from assets._meta import asset_meta, config_params, md_table
from assets.config import SessionConfig, SplitConfig
from assets.stage_io import begin, guarded, materialized, new_version
from pipeline.analysis.report import pairs_table, read_table
from pipeline.contract import upstream_assets
from pipeline.io import write_json
from pipeline.sessions import split_plan as planner
from pipeline.sessions.sessions import session_summary
from pipeline.sessions.splits import EmptySplit, SplitParams, table1_rows
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
    preview = read_table(out["events"], n_rows=5)
    quarantine = read_table(out["quarantine"])
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
    reasons = pairs_table(summary["reasons"], "reason", "rows", counts=True)
    yield materialized(out, mlflow_run=mlflow.link(context.run_id), asset_key="quarantine", metadata={
        "quarantined": quarantine.height, "reasons": md_table(reasons),
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
    summary = session_summary(out, raw, config.split_on_device_change)
    mlflow.log(mlflow.run_id(context.run_id, context.run), params=config_params("sessions", config), counts={"sessions.count": summary["sessions"]})
    return materialized(out, mlflow_run=mlflow.link(context.run_id), check_results=[checks.session_rule(out, config.session_gap_minutes, config.split_on_device_change)], metadata={
        **summary, "engine": engine.describe(),
        **{k: v for k, v in counts.items() if k not in ("events", "sessions")},  # chunks sorted in memory, or Spark's partitions
    })


@dg.asset(group_name=GROUP, deps=upstream_assets("split_plan"), **asset_meta("split_plan"),
          description="The split planner: for candidate cutoffs and (train, test) session counts, the users, sessions and events "
                      "each real-life split keeps, and the one its rule recommends (used by splits with cutoff: auto).")
@guarded
def split_plan(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    return materialized(out, metadata={**planner.split_plan(upstream, out, context.log.info), **plan_tables(out)})


def plan_tables(plan) -> dict:
    """The planner's table (a split_plan stage's files) as one markdown table of users per (train, test) pair, a column per pair."""
    return {"users kept per cutoff and train/test sessions": md_table(planner.users_by_cutoff(read_table(plan["plan"])))}


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
    try:
        table1 = table1_rows(out)
    except EmptySplit as e:
        raise dg.Failure(
            f"{e}: too few users have {params.train_sessions} sessions before {params.cutoff} and {params.test_sessions} after it; "
            "see the split_plan asset for the choices that keep users, or set cutoff: auto",
            metadata={"counts": counts},
        ) from None
    write_json(out["chosen"], chosen)
    mlflow.log(
        mlflow.run_id(context.run_id, context.run),
        params={**config_params("splits", config), "splits.chosen_cutoff": params.cutoff,
                "splits.chosen_train_sessions": params.train_sessions, "splits.chosen_test_sessions": params.test_sessions},
        metrics={f"table1.{row['set']}.{k}": v for row in table1 for k, v in row.items() if k != "set"},
        dicts={"table1.json": table1, "split_counts.json": counts},
    )
    sets = {row["set"]: {k: v for k, v in row.items() if k != "set"} for row in table1}
    mlflow.log_datasets(mlflow.run_id(context.run_id, context.run), [
        {"name": name, "path": out[name], "context": "training" if name == "train" else "testing", "counts": sets[name],
         "schema": out.stage.files[name].schema} for name in ("train", "test")])
    return materialized(out, mlflow_run=mlflow.link(context.run_id),
                        check_results=[checks.no_cold_start(out), checks.split_sides(out, params.cutoff)],
                        metadata={"Table 1": md_table(read_table(out["table1"])), "split": chosen["how"], "engine": engine.describe(), **counts,
                                  "what each stage gets of every user": md_table(pairs_table(chosen["stages"], "stage", "gets")),
                                  **plan_tables(upstream["split_plan"])})
