"""The latent space, and the ALS baseline beside it, as MLflow models one can serve: the stage packages them
(``pipeline.serving.model``), the asset logs and registers them."""

import dagster as dg

from assets._meta import asset_meta
from assets.stage_io import begin, guarded, materialized
from pipeline.contract import upstream_assets
from pipeline.io import write_json
from pipeline.serving import model as model_stage
from resources import DataStore, MlflowTracking

GROUP = "serving"


@dg.asset(group_name=GROUP, deps=upstream_assets("model"), **asset_meta("model"),
          description="The user-session-song space (128-d) as an MLflow pyfunc model: similar songs for a song id, songs for a "
          "user, on a device as the user's latest session there; and the ALS baseline the same way. Each run registers a new "
          "version of both (`mlflow models serve` answers over HTTP).")
@guarded
def model(context: dg.AssetExecutionContext, store: DataStore, mlflow: MlflowTracking) -> dg.MaterializeResult:
    upstream, out = begin(context, store)
    packaged = model_stage.model(upstream, out, context.log.info)
    versions = {name: mlflow.log_model(context.run_id, name, folder, f"{mlflow.experiment_name}-{name}",
                                       input_example=model_stage.input_example(packaged), validation=model_stage.validation_of(packaged, name))
                for name, folder in packaged["folders"].items()}
    write_json(out["versions"], versions)
    return materialized(out, mlflow_run=mlflow.link(context.run_id), metadata={
        **{f"{name} model": v["model_uri"] for name, v in versions.items() if v},
        **{f"{name} champion": f"{'moved to' if v['promoted'] else 'stays at'} version {v['champion']}: {v['gate']}"
           for name, v in versions.items() if v},
        "serve": dg.MetadataValue.md(f"`mlflow models serve -m {versions['proposed'].get('model_uri', 'models:/<name>/<version>')} "
                                     "--env-manager local -h 127.0.0.1 -p 5001`"),
    })
