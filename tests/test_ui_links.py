"""Links between the two UIs follow the ports they are served on ($DAGSTER_PORT, $MLFLOW_PORT), as make ui and
make serve read them: the MLflow run's link back to Dagster, and Dagster's link to the MLflow run."""

from resources.mlflow_tracking import DAGSTER_URL_TAG, MlflowTracking


def test_links_follow_non_default_ports(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PORT", "3111")
    monkeypatch.setenv("MLFLOW_PORT", "5111")
    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "artifacts"))
    run = mlflow.client().get_run(mlflow.run_id("a-dagster-run"))
    assert run.data.tags[DAGSTER_URL_TAG] == "http://127.0.0.1:3111/runs/a-dagster-run"
    assert mlflow.link("a-dagster-run").value.startswith(f"http://127.0.0.1:5111/#/experiments/{mlflow.experiment_id()}/runs/")
    monkeypatch.delenv("DAGSTER_PORT")
    monkeypatch.delenv("MLFLOW_PORT")
    assert (mlflow.dagster_ui(), mlflow.mlflow_ui()) == ("http://127.0.0.1:3000", "http://127.0.0.1:5000")
    explicit = MlflowTracking(ui_url="https://mlflow.example.org", dagster_url="https://dagster.example.org")
    assert (explicit.dagster_ui(), explicit.mlflow_ui()) == ("https://dagster.example.org", "https://mlflow.example.org")
