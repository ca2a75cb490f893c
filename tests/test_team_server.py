"""The team server against a real PostgreSQL: Dagster (webserver, daemon) and MLflow on it, runs launched through the
webserver, two at once, and the new-file sensor fired by the daemon. Everything on 127.0.0.1."""

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
from helpers import SMALL_RUN

from scripts.serve import DAGSTER_DB_ENV, PG_BIN, LocalPostgres, TeamServer, database

pytestmark = pytest.mark.skipif(not (PG_BIN / "initdb").exists() and not os.environ.get("CI"),
                                reason="no PostgreSQL server binaries: apt-get install postgresql")
RUN_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    # PostgreSQL runs as its own user, which cannot enter pytest's private temporary folders
    root = Path(tempfile.mkdtemp(prefix="latent-team-"))
    root.chmod(0o755)
    log = tmp_path_factory.mktemp("log")
    postgres = LocalPostgres(root / "postgres", free_port())
    url = postgres.start()
    server = TeamServer(url, root / "dagster", root / "artifacts", free_port(), free_port(), workspace=probe_workspace(root))
    saved = {k: os.environ.get(k) for k in ("LATENT_HOME", "LATENT_LOG_PATH", "LATENT_LOG_FORMAT", DAGSTER_DB_ENV)}
    os.environ.update({"LATENT_HOME": str(root / "home"), "LATENT_LOG_PATH": str(log), "LATENT_LOG_FORMAT": "canonical",
                       DAGSTER_DB_ENV: server.environment()[DAGSTER_DB_ENV]})  # so the test can open the instance too
    try:
        server.start()
        yield server, postgres, log
    finally:
        server.stop()
        postgres.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        shutil.rmtree(root, ignore_errors=True)  # outside pytest's own temporary folders: nothing else removes it


PROBE = """
import dagster as dg
from assets.definitions import defs

# the pipeline's definitions plus a schedule that fires every minute, so the test sees the daemon fire one
probe = dg.define_asset_job("schedule_probe", selection=["raw_events", "quarantine"])
every_minute = dg.ScheduleDefinition(
    name="every_minute_probe", job=probe, cron_schedule="* * * * *", default_status=dg.DefaultScheduleStatus.RUNNING,
    run_config={"resources": {"source": {"config": {"format": "synthetic", "n_users": 10, "n_songs": 60, "n_artists": 6}}}})
defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[probe], schedules=[every_minute]))
"""


def probe_workspace(root: Path) -> Path:
    from pipeline.io import PROJECT_ROOT

    (root / "probe_defs.py").write_text(PROBE)
    workspace = root / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_file:\n      relative_path: {root / 'probe_defs.py'}\n"
                         f"      working_directory: {PROJECT_ROOT}\n      location_name: latent_listening\n")
    return workspace


def test_the_daemon_fires_schedules(team):
    server, _, _ = team
    instance = dg.DagsterInstance.from_config(str(server.dagster_home))
    deadline = time.monotonic() + 150
    runs = []
    while time.monotonic() < deadline and not runs:
        runs = [r for r in instance.get_runs() if r.tags.get("dagster/schedule_name") == "every_minute_probe"]
        time.sleep(2)
    assert runs, "no scheduled run within 150 s"
    assert wait_for(graphql(server), runs[-1].run_id) == dg.DagsterRunStatus.SUCCESS


def graphql(server):
    from dagster_graphql import DagsterGraphQLClient

    return DagsterGraphQLClient("127.0.0.1", port_number=server.dagster_port)


def small_config(seed: int) -> dict:
    return {"execution": {"config": {"in_process": {}}},
            "resources": {"source": {"config": {"format": "synthetic", "n_users": 30, "n_songs": 400, "n_artists": 40}},
                          "settings": {"config": {"seed": seed, "workers": 1}}},
            "ops": {**SMALL_RUN, "metrics": {"config": {"k_values": [10, 20], "bootstrap_samples": 50}}}}


def wait_for(client, run_id: str) -> str:
    from dagster_graphql import DagsterGraphQLClientError

    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            status = client.get_run_status(run_id)
        except DagsterGraphQLClientError:
            status = None
        if status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            return status
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish within {RUN_TIMEOUT} s")


def test_two_runs_launched_at_once_through_the_webserver_both_land_in_postgres_and_mlflow(team):
    import psycopg2
    from mlflow import MlflowClient

    server, postgres, _ = team
    client = graphql(server)
    runs = {seed: client.submit_job_execution("latent_space_pipeline", run_config=small_config(seed)) for seed in (1, 2)}
    assert {seed: wait_for(client, run_id) for seed, run_id in runs.items()} == {1: dg.DagsterRunStatus.SUCCESS,
                                                                                  2: dg.DagsterRunStatus.SUCCESS}
    # Dagster's runs are rows of the PostgreSQL database, not of a local SQLite file
    with psycopg2.connect(database(postgres.url, "dagster", driver=False)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", (list(runs.values()),))
        assert dict(cursor.fetchall()) == {run_id: "SUCCESS" for run_id in runs.values()}
    assert not list((server.dagster_home).glob("**/*.db"))
    # each run has its own MLflow run on the tracking server, with its own seed and results, artifacts served by it
    mlflow = MlflowClient(server.mlflow_url)
    experiment = mlflow.get_experiment_by_name("latent-listening")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    parents = {}
    for seed, run_id in runs.items():
        found = mlflow.search_runs([experiment.experiment_id], filter_string=f"tags.dagster_run_id = '{run_id}'")
        parent = next(r for r in found if "mlflow.parentRunId" not in r.data.tags)
        assert parent.data.params["seed"] == str(seed) and "exp1.proposed.recall_at_20" in parent.data.metrics
        assert mlflow.list_artifacts(parent.info.run_id), "artifacts are stored through the server"
        parents[seed] = parent.data.metrics["exp1.proposed.recall_at_20"]
    assert parents[1] != parents[2]  # two seeds, two results: neither run read the other's files
    # no database credential reaches MLflow params or tags (the local PostgreSQL wants a password)
    password = urlsplit(server.database_url).password
    assert password and not any("postgres" in str(v) or password in str(v) for v in parent.data.params.values())
    assert not any(password in str(v) for v in parent.data.tags.values())


def test_the_team_servers_retention_never_removes_what_the_local_instance_wrote(team, tmp_path):
    """The local setup (SQLite instance in LATENT_HOME/dagster) and the team server side by side, even writing into
    one store: the team's runs sweep their own old folders and leave the local run's."""
    from assets.definitions import ASSETS
    from pipeline.manifest import verify
    from resources import ComputeEngine, DataStore, ListeningLogSource, MlflowTracking, PipelineSettings

    server, _, _ = team
    local_home = Path(os.environ["LATENT_HOME"]) / "dagster"
    local_home.mkdir(parents=True, exist_ok=True)
    (local_home / "dagster.yaml").write_text((Path(__file__).resolve().parent.parent / "scripts" / "dagster.yaml").read_text())
    local = dg.DagsterInstance.from_config(str(local_home))
    raw = [a for a in ASSETS if dg.AssetKey("raw_events") in a.keys]
    small = {"n_users": 10, "n_songs": 60, "n_artists": 6}
    mine = dg.materialize(raw, instance=local, resources={
        "store": DataStore(base_dir=str(server.store), keep_materializations=1), "engine": ComputeEngine(), "settings": PipelineSettings(),
        "mlflow": MlflowTracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_location=str(tmp_path / "art")),
        "source": ListeningLogSource(**small)})
    assert mine.success
    folder = server.store / "raw_events" / "runs" / mine.run_id
    assert folder.is_dir()

    client = graphql(server)
    config = {"execution": {"config": {"in_process": {}}}, "resources": {
        "source": {"config": {"format": "synthetic", **small}}, "store": {"config": {"keep_materializations": 1}}}}
    team_runs = []
    for _ in range(2):  # the second sweeps the first's folder: retention is at work
        team_runs.append(client.submit_job_execution("latent_space_pipeline", run_config=config, asset_selection=["raw_events"]))
        assert wait_for(client, team_runs[-1]) == dg.DagsterRunStatus.SUCCESS
    runs = server.store / "raw_events" / "runs"
    assert not (runs / team_runs[0]).exists() and (runs / team_runs[1]).is_dir()
    assert folder.is_dir() and verify(folder) > 0  # the local run's files, whole (every file its manifest lists)
    recorded = local.fetch_materializations(dg.AssetKey("raw_events"), limit=1).records[0]
    assert Path(recorded.event_log_entry.asset_materialization.metadata["location"].value) == folder


def test_the_daemon_fires_the_new_file_sensor_once_per_new_file(team):
    import polars as pl

    server, _, log = team
    client = graphql(server)
    instance = dg.DagsterInstance.from_config(str(server.dagster_home))
    before = {r.run_id for r in instance.get_runs()}
    events = pl.DataFrame({"timestamp": ["2016-01-01T10:00:00Z"], "user_id": ["u1"], "song_id": ["s1"]})
    events.write_csv(log / "listens.csv")
    result = client._execute("""mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
        __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }""",
                             {"selector": {"repositoryLocationName": "latent_listening", "repositoryName": "__repository__",
                                           "sensorName": "new_listening_log_files"}})
    assert result["startSensor"]["__typename"] == "Sensor", result
    deadline = time.monotonic() + 180
    new = []
    while time.monotonic() < deadline and not new:
        new = [r for r in instance.get_runs() if r.run_id not in before
               and r.tags.get("dagster/sensor_name") == "new_listening_log_files"]  # not the probe schedule's
        time.sleep(2)
    assert len(new) == 1 and new[0].tags.get("new_files") == "1"
    # the cursor the daemon stored makes the next evaluation skip: an unchanged file requests no run
    from assets.definitions import new_files_sensor
    from resources import ListeningLogSource

    # the daemon stores the cursor when the tick finishes, after it launched the run: wait for it
    deadline = time.monotonic() + 60
    while True:
        state = next(s for s in instance.all_instigator_state() if s.instigator_name == "new_listening_log_files")
        if state.instigator_data.cursor or time.monotonic() > deadline:
            break
        time.sleep(1)
    again = new_files_sensor(dg.build_sensor_context(cursor=state.instigator_data.cursor,
                                                     resources={"source": ListeningLogSource(format="canonical", path=str(log))}))
    assert isinstance(again, dg.SkipReason) and "no new files" in again.skip_message
    # the sensor's run runs, and ends FAILED: a one-row log has no split (waited for, so nothing is left running)
    assert wait_for(client, new[0].run_id) == dg.DagsterRunStatus.FAILURE

