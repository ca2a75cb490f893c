"""What a pipeline's MLflow run is called and says (resources.run_names), and where its metrics go: worked out by hand."""

import dagster as dg
import polars as pl

from pipeline import defaults
from pipeline.analysis.behaviour import summary_parts
from resources import ListeningLogSource, MlflowTracking
from resources.run_names import description, overrides, run_name

RUN_ID = "0123abcd-0000-4000-8000-000000000000"


def test_a_run_is_named_by_its_log_seed_overrides_and_selection():
    plain = dg.DagsterRun(job_name="latent_space_pipeline", run_id=RUN_ID, run_config={})
    assert run_name(RUN_ID, plain, ListeningLogSource(n_users=6), 42) == "synthetic 6 users · seed 42 · 0123abcd"
    config = {"resources": {"settings": {"config": {"seed": 7}}, "source": {"config": {"path": "/data/lastfm/listens.tsv", "format": "lastfm"}}},
              "ops": {"walks_uss": {"config": {"walk_length": 20}}, "metrics": {"config": {"k_values": [10, 20, 30, 40, 50, 60]}}},
              "loggers": {"console": {"config": {"log_level": "INFO"}}}}
    tuned = dg.DagsterRun(job_name="latent_space_pipeline", run_id=RUN_ID, run_config=config,
                          asset_selection=frozenset({dg.AssetKey("walks_uss"), dg.AssetKey("metrics")}))
    # no resources known: the log and the seed come from the run config
    assert run_name(RUN_ID, tuned) == ("listens.tsv · seed 7 · metrics.k_values=10,20,30,40,50,60 · walks_uss.walk_length=20 · "
                                       "source.format=lastfm · metrics, walks_uss · 0123abcd")
    assert run_name(RUN_ID) == f"seed {defaults.SEED} · 0123abcd"  # the default seed


def test_many_overrides_are_counted_not_listed():
    config = {"ops": {f"stage{i}": {"config": {"x": i}} for i in range(6)}}
    run = dg.DagsterRun(job_name="j", run_id=RUN_ID, run_config=config)
    assert run_name(RUN_ID, run, None, 1) == "seed 1 · stage0.x=0 · stage1.x=1 · stage2.x=2 · stage3.x=3 · +2 settings · 0123abcd"
    assert overrides({"ops": {"a": {"config": {"long": "y" * 30}}}}) == [f"a.long={'y' * 21}..."]


def test_the_description_is_recall_at_k_best_first_per_experiment():
    table = pl.DataFrame({"experiment": ["exp1", "exp1", "exp2", "exp2", "exp1"], "method": ["random", "proposed", "MF", "proposed-user", "proposed"],
                          "k": [20, 20, 20, 20, 10], "recall": [0.01, 0.25, 0.2, 0.23, 0.9]})
    text = description(table, 20)
    assert text.splitlines()[2:6] == ["| Experiment 1, similar songs | recall@20 |", "|---|---:|", "| proposed | 0.2500 |", "| random | 0.0100 |"]
    assert text.splitlines()[7:11] == ["| Experiment 2, recommendation | recall@20 |", "|---|---:|", "| proposed-user | 0.2300 |", "| MF | 0.2000 |"]
    assert "0.9000" not in text  # k = 10 is not the headline


def test_a_summary_splits_into_settings_counts_and_findings():
    summary = {"users": 10, "alpha": 0.05, "share_dynamic": 0.4, "permutations": 200, "truth_users_checked": 8, "silhouette_threshold": 0.3}
    assert summary_parts(summary) == ({"alpha": 0.05, "permutations": 200}, {"users": 10, "truth_users_checked": 8},
                                      {"share_dynamic": 0.4, "silhouette_threshold": 0.3})


def test_counts_and_timings_get_their_own_chart_sections(tmp_path):
    mlflow = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "a"))
    run = mlflow.run_id("some-run")
    mlflow.log(run, metrics={"exp1.proposed.recall_at_20": 0.25}, counts={"raw.read": 100}, timings={"walks_uss.seconds": 1.5})
    assert mlflow.client().get_run(run).data.metrics == {"exp1.proposed.recall_at_20": 0.25, "size/raw.read": 100.0, "time/walks_uss.seconds": 1.5}
