"""Runs side by side in one home: two runs with different seeds, launched at the same time through
Dagster (each its own process, as two launches from the UI), each end with their own outputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
from helpers import SMALL_RUN, materialize_all

from assets import stage_io
from resources import ListeningLogSource
from resources.mlflow_tracking import MlflowTracking

ROOT = Path(__file__).resolve().parent.parent
SIZE = {"n_users": 30, "n_songs": 400, "n_artists": 40}
SEEDS = (5, 6)
LAUNCH = """
import json, sys
import dagster as dg
from scripts.demo import pipeline
with dg.execute_job(dg.reconstructable(pipeline), instance=dg.DagsterInstance.get(), run_config=json.loads(sys.argv[1])) as r:
    print(json.dumps({"run_id": r.run_id, "success": r.success}))
"""


def launch(home: Path, seed: int) -> subprocess.Popen:
    env = {**os.environ, "LATENT_HOME": str(home), "LATENT_DATA_DIR": str(home / "store"), "DAGSTER_HOME": str(home / "dagster"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    config = {"resources": {"source": {"config": SIZE}, "settings": {"config": {"seed": seed, "workers": 1}},
                            "mlflow": {"config": {"artifact_location": str(home / "artifacts")}}},
              "ops": SMALL_RUN, "execution": {"config": {"in_process": {}}}}
    return subprocess.Popen([sys.executable, "-c", LAUNCH, json.dumps(config)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_runs_at_once_each_read_their_own_upstream_outputs(tmp_path):
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text((ROOT / "scripts" / "dagster.yaml").read_text())
    # The instance's SQLite storages exist before the launches, as they do once `make ui` has run (two
    # processes creating a fresh instance's tables at once collide: "table instigators already exists").
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    instance.get_runs(limit=1), instance.all_instigator_state(), instance.get_latest_materialization_event(dg.AssetKey("x"))
    procs = {seed: launch(home, seed) for seed in SEEDS}  # both at once
    launched = {}
    for seed, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        launched[seed] = json.loads(out.strip().splitlines()[-1])
        assert launched[seed]["success"], err[-3000:]

    records = {seed: instance.get_run_record_by_id(launched[seed]["run_id"]) for seed in SEEDS}
    a, b = records.values()
    assert a.start_time < b.end_time and b.start_time < a.end_time  # the two runs did overlap

    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    metrics = {}
    for seed in SEEDS:
        run_id = launched[seed]["run_id"]
        files = {stage: stage_io.located(instance, instance.get_run_by_id(run_id), stage) for stage in ("raw_events", "splits",
                                                                                                         "embedding_uss", "metrics")}
        assert all(f.folder.name == run_id for f in files.values())
        assert json.loads(files["raw_events"]["summary"].read_text())["seed"] == seed
        assert json.loads(files["embedding_uss"]["params"].read_text())["walk_seed"] == seed
        metrics[seed] = pl.read_parquet(files["metrics"]["metrics"])
        # MLflow's record of the run is the run's own too
        logged = mlflow.client().get_run(mlflow.run_id(run_id)).data
        assert logged.params["seed"] == str(seed)
        train_events = pl.read_parquet(files["splits"]["table1"]).filter(pl.col("set") == "train")["events"].item()
        assert logged.metrics["table1.train.events"] == train_events

    assert not metrics[SEEDS[0]].equals(metrics[SEEDS[1]])  # the seeds make different results, so mixing would show
    for seed in SEEDS:  # and each equals the same seed's run alone
        alone = materialize_all(tmp_path / f"alone-{seed}", ListeningLogSource(**SIZE), seed=seed)
        assert alone.result.success
        assert pl.read_parquet(alone.files("metrics")["metrics"]).equals(metrics[seed]), seed
