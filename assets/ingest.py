"""raw events -> sessions -> splits."""


import dagster as dg
import polars as pl

from assets._meta import config_params, layout, md_table
from assets.config import SessionConfig, SplitConfig
from pipeline.io import atomic_path, write_json
from pipeline.sessions import session_table, sessionize_file
from pipeline.splits import split_files
from pipeline.splits import table1 as table1_of
from resources import DataStore, ListeningLogSource, MlflowTracking, PipelineSettings

GROUP = "data"


@dg.multi_asset(
    group_name=GROUP,
    specs=[
        dg.AssetSpec("raw_events", group_name=GROUP, description="The listening log in the canonical schema (timestamp, user, "
                     "device, song, artist, genre, language), as Parquet: the seeded synthetic log or an imported real one."),
        dg.AssetSpec("quarantine", group_name=GROUP, description="Input rows that were not accepted, each with its file, row "
                     "and reason. Accepted + quarantined = read."),
    ],
)
def raw_events(
    context: dg.AssetExecutionContext,
    source: ListeningLogSource,
    store: DataStore,
    settings: PipelineSettings,
    mlflow: MlflowTracking,
):
    paths = layout(store)
    summary = source.write_events(paths.stage("raw_events"), seed=settings.seed, log=context.log.info)
    preview = pl.read_parquet(paths.events, n_rows=5)
    quarantine = pl.read_parquet(paths.stage("raw_events") / "quarantine.parquet")
    counts = {k: summary[k] for k in ("read", "accepted", "quarantined")}
    mlflow.log(
        mlflow.run_id(context.run_id),
        params={**{f"source.{k}": v for k, v in source.model_dump().items() if k != "pseudonymise_salt"}, "seed": settings.seed,
                "workers": settings.workers},
        metrics={f"raw.{k}": v for k, v in counts.items()},
    )
    yield dg.MaterializeResult(asset_key="raw_events", metadata={
        **counts, "source": summary["source"], "path": str(paths.events), "preview": md_table(preview),
        "device": "present" if summary["has_device"] else "absent: sessions are cut by the time gap alone",
    })
    reasons = pl.DataFrame({"reason": list(summary["reasons"]), "rows": list(summary["reasons"].values())}, schema={"reason": pl.String, "rows": pl.Int64})
    yield dg.MaterializeResult(asset_key="quarantine", metadata={
        "quarantined": quarantine.height, "reasons": md_table(reasons.sort("rows", descending=True)),
        "first rows": md_table(quarantine.head(10)), "path": str(paths.stage("raw_events") / "quarantine.parquet"),
    })


@dg.asset(group_name=GROUP, deps=["raw_events"], description="Events cut into sessions: a new session after a gap of "
          "session_gap_minutes or more, or on a device change.")
def sessions(context: dg.AssetExecutionContext, config: SessionConfig, store: DataStore, mlflow: MlflowTracking) -> dg.MaterializeResult:
    paths = layout(store)
    counts = sessionize_file(paths.events, paths.sessionized, config.session_gap_minutes, config.split_on_device_change,
                             log=context.log.info)
    table = session_table(pl.scan_parquet(paths.sessionized)).collect(engine="streaming")
    with atomic_path(paths.sessions) as tmp:
        table.write_parquet(tmp)
    write_json(paths.stage("sessions") / "config.json", config.model_dump())
    has_device = bool(pl.scan_parquet(paths.events).select(pl.col("device").is_not_null().any()).collect().item())
    lengths = table["n_songs"]
    mlflow.log(mlflow.run_id(context.run_id), params=config_params("sessions", config), metrics={"sessions.count": table.height})
    return dg.MaterializeResult(
        metadata={
            "sessions": table.height,
            "events": int(lengths.sum()),
            "chunks sorted in memory": counts["chunks"],
            "songs per session (median)": float(lengths.median()),
            "sessions with fewer than 5 songs": int((lengths < 5).sum()),
            "rule": "time gap and device" if (config.split_on_device_change and has_device) else "time gap alone (no device in the log)",
        }
    )


@dg.asset(group_name=GROUP, deps=[sessions], description="The real-life split by the cutoff date (train / test) and the paper's Table 1.")
def splits(context: dg.AssetExecutionContext, config: SplitConfig, store: DataStore, mlflow: MlflowTracking) -> dg.MaterializeResult:
    paths = layout(store)
    train, test = paths.split("train.parquet"), paths.split("test.parquet")
    counts = split_files(paths.sessionized, train, test, cutoff=config.cutoff, train_sessions=config.train_sessions,
                         test_sessions=config.test_sessions, min_session_songs=config.min_session_songs)
    table1 = table1_of({"train": pl.scan_parquet(train), "test": pl.scan_parquet(test)})
    if table1["events"].min() == 0:
        raise dg.Failure(
            f"the split left {table1['events'][0]} train and {table1['events'][1]} test events: "
            f"too few users have {config.train_sessions} sessions before {config.cutoff} and {config.test_sessions} after it",
            metadata={"counts": counts},
        )
    table1.write_parquet(paths.split("table1.parquet"))
    write_json(paths.split("counts.json"), counts)
    write_json(paths.split("config.json"), config.model_dump())
    mlflow.log(
        mlflow.run_id(context.run_id),
        params=config_params("splits", config),
        metrics={f"table1.{row['set']}.{k}": v for row in table1.iter_rows(named=True) for k, v in row.items() if k != "set"},
        dicts={"table1.json": table1.to_dicts(), "split_counts.json": counts},
    )
    return dg.MaterializeResult(metadata={"Table 1": md_table(table1), **counts})
