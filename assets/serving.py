"""The latent space, and the ALS baseline beside it, as MLflow models one can serve."""

import dagster as dg
import pandas as pd
import polars as pl

from assets._meta import asset_meta
from assets.analysis import song_table
from assets.stage_io import begin, guarded, materialized
from pipeline.baselines import catalogue
from pipeline.contract import upstream_assets
from pipeline.experiments import EVENT_IDS, mf_space, proposed_space
from pipeline.io import read_json, write_json
from pipeline.promotion import Validation
from pipeline.queries import latest_sessions
from pipeline.serving import write_space
from pipeline.sessions import session_table
from resources import DataStore, MlflowTracking

GROUP = "serving"


@dg.asset(group_name=GROUP, deps=upstream_assets("model"), **asset_meta("model"),
          description="The user-session-song space (128-d) as an MLflow pyfunc model: similar songs for a song id, songs for a "
          "user, on a device as the user's latest session there; and the ALS baseline the same way. Each run registers a new "
          "version of both (`mlflow models serve` answers over HTTP).")
@guarded
def model(context: dg.AssetExecutionContext, store: DataStore, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    train = pl.read_parquet(upstream["splits"]["train"], columns=EVENT_IDS)
    users, songs = catalogue(train)
    tags = song_table(upstream).sort("song_id")
    latest = latest_sessions(session_table(train).collect().with_columns(pl.col("session_id").cast(pl.String)))
    spaces = {"proposed": (proposed_space(upstream, songs), latest), "mf": (mf_space(upstream, users), None)}
    scores = read_json(upstream["als_tuning"]["validation"])
    tuned = read_json(upstream["skipgram_tuning"]["result"])
    validation = {  # scored on the validation split by models trained on the fit part (pipeline.promotion)
        # the settings embedding_uss trained with: the grid's best point (pipeline.training.tuned)
        "proposed": Validation(tuned.get("best_score") if tuned.get("enabled") else None, scores["popularity"], scores["data"]),
        "mf": Validation(scores["MF"], scores["popularity"], scores["data"]),
    }
    versions = {}
    for name, (space, sessions) in spaces.items():
        folder = write_space(out[name], space, tags, sessions)
        example = pd.DataFrame([{"song_id": songs[0], "user_id": None, "device": None, "k": 5},
                                {"song_id": None, "user_id": users[0], "device": None, "k": 5}])
        versions[name] = mlflow.log_model(context.run_id, name, folder, f"{mlflow.experiment_name}-{name}", input_example=example,
                                          validation=validation[name])
    write_json(out["versions"], versions)
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        **{f"{name} model": v["model_uri"] for name, v in versions.items() if v},
        **{f"{name} champion": f"{'moved to' if v['promoted'] else 'stays at'} version {v['champion']}: {v['gate']}"
           for name, v in versions.items() if v},
        "serve": dg.MetadataValue.md(f"`mlflow models serve -m {versions['proposed'].get('model_uri', 'models:/<name>/<version>')} "
                                     "--env-manager local -h 127.0.0.1 -p 5001`"),
    })
