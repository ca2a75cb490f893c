"""End to end: every asset and check materialized on a tiny generated log, MLflow run inspected."""

import json
import shutil
import subprocess

import dagster as dg
import numpy as np
import polars as pl
import pytest
from helpers import K, materialize_all

from assets import stage_io
from assets.deepwalk import PAUSED_KEY
from assets.definitions import ASSETS, defs, pipeline_job, weekly_schedule
from pipeline.contract import STAGES
from pipeline.manifest import MANIFEST, write_manifest
from resources import ComputeEngine, DataStore, ListeningLogSource, PipelineSettings
from resources.mlflow_tracking import DAGSTER_RUN_TAG

ASSETS_BY_NAME = {a.key.to_user_string(): a for a in ASSETS if len(a.keys) == 1}
METHODS = {"proposed", "proposed-user", "proposed-device", "proposed/cosine", "proposed/cosine-user", "proposed/cosine-device", "U-S", "MF", "SKNN", "SKNN-user", "SKNN-device", "popularity", "random"}
EXPECTED_GRAPH = {
    "raw_events": set(),
    "quarantine": set(),
    "sessions": {"raw_events"},
    "split_plan": {"sessions"},
    # the split planner sits between sessions and splits (cutoff: auto takes its recommendation)
    "splits": {"sessions", "split_plan"},
    "graph_uss": {"splits"},
    "graph_us": {"splits"},
    "walks_uss": {"graph_uss"},
    "walks_us": {"graph_us"},
    "embedding_uss": {"walks_uss", "skipgram_tuning"},  # it trains with the point skipgram_tuning chose, when enabled
    "embedding_uss_2d": {"walks_uss"},
    "embedding_us": {"walks_us"},
    "validation_split": {"splits"},
    "als_tuning": {"validation_split"},
    "skipgram_tuning": {"validation_split"},
    "baselines": {"splits", "als_tuning"},
    # metrics reads the test set (splits); behaviour, plots and explorer read the planted truth
    # (raw_events) and plots the train songs (splits): undeclared until the stage contract.
    # metrics reads the users' kinds (behaviour) for its strata
    "metrics": {"splits", "baselines", "embedding_uss", "embedding_us", "graph_uss", "graph_us", "behaviour"},
    # model reads the validation scores of the champion gate (als_tuning, skipgram_tuning)
    "model": {"raw_events", "splits", "graph_uss", "embedding_uss", "baselines", "als_tuning", "skipgram_tuning"},
    "behaviour": {"raw_events", "embedding_uss", "graph_uss", "splits"},
    "plots": {"raw_events", "splits", "metrics", "embedding_uss_2d", "graph_uss", "behaviour"},
    "explorer": {"raw_events", "embedding_uss_2d", "graph_uss", "splits"},
}


def test_asset_graph_snapshot():
    """Catches accidental changes to the asset graph."""
    graph = defs.resolve_asset_graph()
    actual = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert actual == EXPECTED_GRAPH


def test_definitions_load_and_schedule_is_off():
    dg.Definitions.validate_loadable(defs)
    assert weekly_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert defs.resolve_job_def(pipeline_job.name) is not None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return materialize_all(
        tmp_path_factory.mktemp("e2e"),
        ListeningLogSource(n_users=30, n_songs=400, n_artists=40),
        skipgram_tuning={"config": {"enabled": True, "epochs": [1, 2], "alpha": [0.025], "dimensions": 8,
                                    "walk_length": 10, "walks_per_vertex": 2}},
    )


def test_every_asset_and_check_succeeds(run):
    result = run.result
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == set(EXPECTED_GRAPH)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(defs.resolve_asset_graph().asset_check_keys) == 9
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]


def test_metrics_make_sense(run):
    metrics = pl.read_parquet(run.files("metrics")["metrics"])
    assert set(metrics["method"]) == METHODS  # with the variant SMALL_RUN asks for (proposed/cosine) in both experiments
    assert (metrics["recall_lo"] <= metrics["recall"]).all() and (metrics["recall"] <= metrics["recall_hi"]).all()
    assert metrics["ndcg"].is_between(0, 1).all() and (metrics["hit_rate"] >= metrics["recall"] - 1e-12).all()
    verdicts = pl.read_parquet(run.files("metrics")["verdicts"])
    assert verdicts.height == 6 and set(verdicts["verdict"]) <= {"holds", "reversed", "not separable", "mixed"}
    assert sorted(metrics["k"].unique()) == K
    assert metrics["recall"].is_between(0, 1).all() and metrics["precision"].is_between(0, 1).all()
    for experiment, method in (("exp1", "proposed"), ("exp2", "proposed-user")):
        r = metrics.filter(pl.col("experiment") == experiment).sort("k")
        ours = r.filter(pl.col("method") == method)["recall"].to_numpy()
        rand = r.filter(pl.col("method") == "random")["recall"].to_numpy()
        assert (ours > rand).all(), experiment
        assert (np.diff(ours) >= 0).all()  # recall@k never falls as k grows
    table1 = pl.read_parquet(run.files("splits")["table1"])
    assert table1["set"].to_list() == ["train", "test"] and (table1["events"] > 0).all()
    # user-level intervals (whole users resampled) are wider than the session-level ones, and the verdicts use them
    widths = metrics.select((pl.col("recall_user_hi") - pl.col("recall_user_lo")) / (pl.col("recall_hi") - pl.col("recall_lo")))
    assert widths.to_series().drop_nans().median() > 1 and set(verdicts["interval"]) == {"users"}
    # beyond accuracy: popularity recommends everyone the same most-played songs, so its lists have the highest mean
    # play count there is and cover k songs of the catalogue
    exp2 = metrics.filter((pl.col("experiment") == "exp2") & (pl.col("k") == 20))
    pop = exp2.filter(pl.col("method") == "popularity").row(0, named=True)
    assert pop["popularity"] >= exp2["popularity"].max() - 1e-9
    n_songs = len(np.load(run.files("baselines")["popularity"]))
    assert pop["coverage"] == pytest.approx(20 / n_songs)
    assert {"novelty", "diversity_genre", "diversity_language", "diversity_artist"} <= set(metrics.columns)
    # the most-played songs are not rare; every share is a share
    assert pop["rare"] == 0 and ((metrics["heard"] >= 0) & (metrics["heard"] <= 1) & (metrics["rare"] <= 1)).all()
    strata = pl.read_parquet(run.files("metrics")["strata"])
    assert set(strata["stratum_kind"]) == {"song popularity", "session length", "user activity", "preference",
                                           "device-related", "time-related"}
    assert set(strata.filter(pl.col("stratum_kind") == "preference")["stratum"]) <= {"single preference", "dynamic preference"}
    assert set(strata.filter(pl.col("stratum_kind") == "song popularity")["stratum"]) == {"head", "torso", "tail"}
    by_length = strata.filter((pl.col("stratum_kind") == "session length") & (pl.col("method") == "proposed") & (pl.col("k") == 20))
    assert by_length["queries"].sum() == metrics.filter((pl.col("method") == "proposed") & (pl.col("k") == 20)
                                                        & (pl.col("experiment") == "exp1"))["queries"].item()


def test_every_declared_file_is_written_with_its_schema(run):
    stages = run.files
    for stage in STAGES:
        files = stages(stage)
        assert files.folder.parent.name == "runs" and files.folder.name == run.result.run_id
        for key, file in files.stage.files.items():
            if file.series:
                assert list(files.folder.glob(file.name.replace("{:03d}", "*").replace("{}", "*"))), (stage, key)
                continue
            assert files[key].exists() or not file.always, (stage, key)
            if file.schema:
                schema = pl.read_parquet_schema(files[key])
                assert {c: schema.get(c) for c in file.schema} == dict(file.schema), (stage, key)


def test_figures_written(run):
    plots = run.files("plots").folder
    names = {p.name for p in plots.glob("*.png")}
    assert {"fig7_similar_song_retrieval.png", "fig8_recommendation.png", "fig3a_songs_by_language.png", "fig3b_songs_by_genre.png",
            "fig3c_songs_by_popularity.png", "fig1_three_users.png", "fig4_single_and_dynamic_users.png",
            "strata_exp1.png", "strata_exp2.png"} <= names
    assert all((plots / n).stat().st_size > 5_000 for n in names)


def test_mlflow_run_with_nested_method_runs(run):
    result, mlflow = run.result, run.mlflow
    client = mlflow.client()
    parent_id = mlflow.run_id(result.run_id)
    parent = client.get_run(parent_id)
    assert parent.data.tags[DAGSTER_RUN_TAG] == result.run_id
    assert client.get_experiment(parent.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert parent.data.params["walks_uss.walk_length"] == "20"
    assert parent.data.params["embedding_uss.hs"] == "1" and parent.data.params["embedding_uss.negative"] == "0"
    assert float(parent.data.metrics["table1.train.events"]) > 0
    artifacts = {a.path for a in client.list_artifacts(parent_id)}
    assert {"fig7_similar_song_retrieval.png", "table1.json", "embedding_uss"} <= artifacts
    nested = client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    children = [c for c in nested if "method" in c.data.tags]  # the method runs (the others hold the served models and the machine's samples)
    assert sum(c.data.tags.get("kind") == "system" for c in nested) == 1
    assert {c.data.tags["model"] for c in nested if "model" in c.data.tags} == {"proposed", "mf"}
    assert {c.data.tags["method"] for c in children} == METHODS
    proposed = next(c for c in children if c.data.tags["method"] == "proposed")
    history = client.get_metric_history(proposed.info.run_id, "exp1_recall_at_k")
    assert sorted(m.step for m in history) == K


def test_mlflow_runs_of_two_pipeline_runs_can_be_told_apart(run):
    result, mlflow = run.result, run.mlflow
    client = mlflow.client()
    parent = client.get_run(mlflow.run_id(result.run_id))
    assert parent.info.status == "RUNNING"  # until its Dagster run's end reaches the run-status sensor
    assert parent.data.metrics["exp1.proposed.recall_at_20"] == pytest.approx(
        pl.read_parquet(run.files("metrics")["metrics"]).filter((pl.col("method") == "proposed") & (pl.col("experiment") == "exp1")
                                                               & (pl.col("k") == 20))["recall"].item())
    assert {"exp2.proposed-device.ndcg_at_20", "exp2.MF.recall_at_20"} <= set(parent.data.metrics)
    assert "evaluation.bootstrap_samples" not in parent.data.metrics  # a param, not also a metric
    assert "behaviour.alpha" in parent.data.params and "behaviour.alpha" not in parent.data.metrics  # constants are params
    # results lead unprefixed; counts and timings have their own chart sections; the machine's samples are in a child
    assert {"size/raw.read", "size/walks_uss.tokens", "time/embedding_uss.seconds", "time/evaluation.exp1.proposed.seconds"} <= set(parent.data.metrics)
    assert min(parent.data.metrics).startswith("exp1.") and "users.share_dynamic" in parent.data.metrics  # MLflow lists by name
    assert not any(k.startswith("system/") or (k.endswith("seconds") and not k.startswith("time/")) for k in parent.data.metrics)
    assert parent.info.run_name.endswith(result.run_id[:8]) and "seed" in parent.info.run_name
    note = parent.data.tags["mlflow.note.content"]
    assert "| Experiment 2, recommendation | recall@20 |" in note and f"| {parent.data.metrics['exp1.proposed.recall_at_20']:.4f} |" in note
    children = [c for c in client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
                if "method" in c.data.tags]
    proposed = next(c for c in children if c.data.tags["method"] == "proposed")
    assert proposed.info.run_name == f"proposed · {result.run_id[:8]}" and proposed.info.status == "FINISHED"
    assert proposed.data.params["embedding_uss.dimensions"] == "16" and "config_digest" in proposed.data.tags
    assert proposed.data.params["embedding_uss.walk_length"] == "20" and "embedding_uss.seconds" not in proposed.data.params
    mf = next(c for c in children if c.data.tags["method"] == "MF")
    assert "als.regularization" in mf.data.params
    assert not any(k.endswith("_at_10") for c in children for k in c.data.metrics)  # curves over k only, no scalar copies


def test_mlflow_records_the_train_and_test_sets_the_run_used(run):
    parent = run.mlflow.client().get_run(run.mlflow.run_id(run.result.run_id))
    inputs = {i.dataset.name: i for i in parent.inputs.dataset_inputs}
    assert set(inputs) == {"train", "test"}
    table1 = {r["set"]: r for r in pl.read_parquet(run.files("splits")["table1"]).iter_rows(named=True)}
    for name, context in (("train", "training"), ("test", "testing")):
        tags = {t.key: t.value for t in inputs[name].tags}
        assert tags["mlflow.data.context"] == context and tags["events"] == str(table1[name]["events"])
        assert json.loads(inputs[name].dataset.source)["uri"].endswith(f"/{name}.parquet") and len(inputs[name].dataset.digest) == 16
        assert "user_id" in inputs[name].dataset.schema


def test_tuning_ran_on_validation(run):
    grid = pl.read_csv(run.files("als_tuning")["grid"])
    # 4 points screened after 2 of their 5 iterations; the default 3 finalists fitted to the end, best first
    assert grid.height == 4 and grid["screen_score"].null_count() == 0 and grid["score"].null_count() == 1
    assert grid["score"].drop_nulls().is_sorted(descending=True) and grid["score"][0] == grid["score"].max()
    best = json.loads(run.files("baselines")["params"].read_text())
    assert (best["regularization"], best["confidence_scale"]) == (grid["regularization"][0], grid["confidence_scale"][0])
    result = json.loads(run.files("skipgram_tuning")["result"].read_text())
    assert result["enabled"] and result["best"]["epochs"] in (1, 2) and result["paper_score"] is not None
    # embedding_uss trains with the point the grid chose, as baselines refits ALS's; the 2-d pictures keep their config
    trained = json.loads(run.files("embedding_uss")["params"].read_text())
    assert {k: trained[k] for k in ("epochs", "alpha", "window")} == result["best"]
    assert json.loads(run.files("embedding_uss_2d")["params"].read_text())["epochs"] == 1


def test_behaviour_table_and_explorer(run):
    table = pl.read_parquet(run.files("behaviour")["users"])
    assert table.height > 0 and set(table["preference"]) <= {"single", "dynamic"}
    assert table["device_p"].is_between(0, 1).all() and table["time_p"].is_between(0, 1).all()
    summary = json.loads(run.files("behaviour")["summary"].read_text())
    assert summary["truth_users_checked"] == table.height and 0 <= summary["truth_preference_accuracy"] <= 1
    html = run.files("explorer")["html"].read_text()
    assert "const DATA = {" in html and "http" not in html.split("<script>")[1].split("const DATA")[0]


def test_ego_networks_are_graphml_of_the_users_sessions_and_songs(run):
    import networkx as nx

    graph = nx.read_graphml(run.files("explorer")["egonets"])
    kinds = nx.get_node_attributes(graph, "kind")
    users = [n for n, k in kinds.items() if k == "user"]
    assert 0 < len(users) <= 20 and {"session", "song"} <= set(kinds.values())
    train = pl.read_parquet(run.files("splits")["train"])
    user = graph.nodes[users[0]]["key"]
    mine = train.filter(pl.col("user_id") == user)
    sessions = [n for n in graph.neighbors(users[0])]
    assert sorted(graph.nodes[n]["key"] for n in sessions) == sorted(str(s) for s in mine["session_id"].unique())
    first = mine["session_id"][0]
    node = f"session:{first}"
    songs = {graph.nodes[n]["key"] for n in graph.neighbors(node) if kinds[n] == "song"}
    assert songs == set(mine.filter(pl.col("session_id") == first)["song_id"])  # exactly its distinct songs
    assert graph.nodes[node]["device"] == mine.filter(pl.col("session_id") == first)["device"][0]


def test_embedding_pauses_and_resumes_from_its_checkpoint(run):
    resources = {"store": run.store, "engine": ComputeEngine(), "settings": PipelineSettings(workers=1), "mlflow": run.mlflow}
    cfg = {"dimensions": 16}
    paused = dg.materialize([ASSETS_BY_NAME["embedding_us"]], resources=resources, raise_on_error=False, instance=run.instance,
                            run_config=dg.RunConfig(ops={"embedding_us": {"config": {**cfg, "max_train_seconds": 1e-9}}}))
    assert not paused.success  # paused after one shard, asking to be materialized again
    (failure,) = [e.event_specific_data for e in paused.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.user_failure_data.metadata[PAUSED_KEY].value is True  # what the paper runner resumes by
    checkpoints = run.store.root() / "embedding_us" / "checkpoints"
    assert any(checkpoints.rglob("state.json"))
    resumed = dg.materialize([ASSETS_BY_NAME["embedding_us"]], resources=resources, instance=run.instance,
                             run_config=dg.RunConfig(ops={"embedding_us": {"config": cfg}}))
    meta = resumed.get_asset_materialization_events()[0].materialization.metadata
    assert meta["shards reused from a checkpoint"].value == 1 and meta["shards trained"].value == 3
    assert not any(checkpoints.rglob("state.json"))  # removed once the vectors are written
    params = json.loads(stage_io.of_result(resumed)["embedding_us"]["params"].read_text())
    assert params["units_timed"] == params["units_total"] == 4  # the paused shard's time carried over
    assert params["train_seconds_all_attempts"] > 0 and params["checkpoint_seconds_all_attempts"] >= 0


def test_train_shards_trains_on_the_first_walk_files_with_the_whole_vocabulary(run):
    resources = {"store": run.store, "engine": ComputeEngine(), "settings": PipelineSettings(workers=1), "mlflow": run.mlflow}
    quick = dg.materialize([ASSETS_BY_NAME["embedding_us"]], resources=resources, instance=run.instance,
                           run_config=dg.RunConfig(ops={"embedding_us": {"config": {"dimensions": 8, "train_shards": 2}}}))
    files = stage_io.of_result(quick)["embedding_us"]
    params = json.loads(files["params"].read_text())
    assert params["units_total"] == 2 and params["train_shards"] == 2 and params["walks_per_vertex"] == 4
    assert params["shards_trained"] == params["units_timed"] == 2 and params["shards_reused"] == 0
    vectors = np.load(files["vectors"])
    assert vectors.shape[0] == len(np.load(run.files("walks_us")["vertex_counts"])) and np.isfinite(vectors).all()
    too_many = dg.materialize([ASSETS_BY_NAME["embedding_us"]], resources=resources, instance=run.instance, raise_on_error=False,
                              run_config=dg.RunConfig(ops={"embedding_us": {"config": {"dimensions": 8, "train_shards": 5}}}))
    assert not too_many.success
    (failure,) = [e.event_specific_data for e in too_many.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "train_shards=5: the walks have 4 shards" in failure.user_failure_data.description


def test_the_numba_trainer_writes_the_stage_as_gensim_does_and_refuses_a_cut_walk_file(run):
    resources = {"store": run.store, "engine": ComputeEngine(), "settings": PipelineSettings(workers=1), "mlflow": run.mlflow}
    config = dg.RunConfig(ops={"embedding_us": {"config": {"dimensions": 8, "trainer": "numba"}}})
    trained = dg.materialize([ASSETS_BY_NAME["embedding_us"]], resources=resources, instance=run.instance, run_config=config)
    files = stage_io.of_result(trained)["embedding_us"]
    params = json.loads(files["params"].read_text())
    assert params["trainer"] == "numba" and params["units_total"] == params["shards_trained"] == 4
    assert params["hs"] == 1 and params["negative"] == 0 and "sample" not in params  # what it runs, not gensim's knobs
    vectors = np.load(files["vectors"])
    assert vectors.shape == (len(np.load(run.files("walks_us")["vertex_counts"])), 8) and np.isfinite(vectors).all()
    assert trained.get_asset_check_evaluations()[0].passed

    walks = run.files("walks_us")
    shard = sorted(walks.folder.glob("pass-*.txt"))[2]
    text, manifest = shard.read_bytes(), (walks.folder / MANIFEST).read_bytes()

    def failure_of_a_training():
        cut = dg.materialize([ASSETS_BY_NAME["embedding_us"]], resources=resources, instance=run.instance,
                             run_config=config, raise_on_error=False)
        assert not cut.success
        (failure,) = [e.event_specific_data for e in cut.all_events if e.event_type_value == "STEP_FAILURE"]
        return failure.user_failure_data.description

    try:
        shard.write_bytes(text[: text.index(b"\n", len(text) // 2) + 1])  # half its walks, cut at a line's end
        # the reader's check of what the walk stage wrote (pipeline.manifest) catches it before any training
        message = failure_of_a_training()
        assert message.startswith(f"embedding_us: walks_us's {shard}: ") and "cut short since" in message
        # a walk file that was cut when it was written (its manifest agrees): the trainer's count against the index
        write_manifest(walks.folder)
        message = failure_of_a_training()
        assert message.startswith("embedding_us: ") and f"{shard.name}: " in message and "but the walk index records" in message
    finally:
        shard.write_bytes(text)
        (walks.folder / MANIFEST).write_bytes(manifest)


def test_a_disk_that_fills_mid_stage_fails_it_naming_the_stage_and_folder_and_leaves_no_partial_folder(run, tmp_path):
    disk = tmp_path / "small-disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here: a full disk needs one to test")
    try:
        free = shutil.disk_usage(disk).free
        (disk / "ballast").write_bytes(b"x" * (free - 48 * 1024))  # 48 KB left: less than one walk file of this run
        store = DataStore(base_dir=str(disk / "store"), min_free_gb=0)
        resources = {"store": store, "engine": ComputeEngine(), "settings": PipelineSettings(workers=1), "mlflow": run.mlflow}
        full = dg.materialize([ASSETS_BY_NAME["walks_us"]], resources=resources, instance=run.instance, raise_on_error=False,
                              run_config=dg.RunConfig(ops={"walks_us": {"config": {"walk_length": 20, "walks_per_vertex": 4}}}))
        assert not full.success and run.instance.get_run_by_id(full.run_id).status == dg.DagsterRunStatus.FAILURE
        (failure,) = [e.event_specific_data for e in full.all_events if e.event_type_value == "STEP_FAILURE"]
        folder = disk / "store" / "walks_us" / "runs" / full.run_id
        message = failure.user_failure_data.description
        assert message.startswith("walks_us: out of disk space writing ") and f"partial folder {folder})" in message
        assert not folder.exists() and shutil.disk_usage(disk).free >= 48 * 1024  # its partial files are gone
    finally:
        subprocess.run(["umount", str(disk)])


def test_the_skip_gram_grid_can_train_with_the_numba_trainer(run):
    resources = {"store": run.store, "settings": PipelineSettings(workers=1), "mlflow": run.mlflow}
    config = {"enabled": True, "epochs": [1, 2], "alpha": [0.025], "dimensions": 8, "walk_length": 10, "walks_per_vertex": 2,
              "trainer": "numba"}
    tuned = dg.materialize([ASSETS_BY_NAME["skipgram_tuning"]], resources=resources, instance=run.instance,
                           run_config=dg.RunConfig(ops={"skipgram_tuning": {"config": config}}))
    files = stage_io.of_result(tuned)["skipgram_tuning"]
    grid = pl.read_csv(files["grid"])
    assert sorted(grid["epochs"]) == [1, 2] and grid["score"].null_count() == 0 and grid["score"].is_sorted(descending=True)
    assert json.loads(files["result"].read_text())["best"]["epochs"] == grid["epochs"][0]


def test_the_champion_alias_follows_the_validation_gate(run):
    from pipeline.io import read_json
    from pipeline.serving.promotion import Validation

    versions = json.loads(run.files("model")["versions"].read_text())
    scores, tuned = read_json(run.files("als_tuning")["validation"]), read_json(run.files("skipgram_tuning")["result"])
    client = run.mlflow.client()
    for name, score in (("mf", scores["MF"]), ("proposed", tuned["best_score"])):
        v = versions[name]
        tags = client.get_model_version(v["registered_name"], str(v["version"])).tags
        assert float(tags["validation_score"]) == pytest.approx(score) and tags["validation_data"] == scores["data"]
        promoted = score > scores["popularity"]  # the first version of each model: there is no champion before it
        assert v["promoted"] == promoted and tags["champion_gate"] == v["gate"]
        assert (client.get_registered_model(v["registered_name"]).aliases.get("champion") == v["version"]) == promoted
        # a later version that does no better on the same validation data leaves the champion where it is
        again = run.mlflow.log_model(run.result.run_id, name, run.files("model")[name], v["registered_name"],
                                     validation=Validation(score, scores["popularity"], scores["data"]))
        assert again["version"] == v["version"] + 1 and not again["promoted"]
        assert client.get_registered_model(v["registered_name"]).aliases.get("champion") == (v["version"] if promoted else None)


def test_the_registered_model_is_served_over_http(run, tmp_path):
    """`mlflow models serve` on 127.0.0.1 answers with what the model answers in process; unknown ids get a 4xx."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    import pandas as pd

    from pipeline.serving.pyfunc import LatentSpaceModel

    versions = json.loads(run.files("model")["versions"].read_text())
    assert versions["proposed"]["version"] >= 1 and versions["mf"]["registered_name"].endswith("-mf")
    model = LatentSpaceModel().load(run.files("model")["proposed"])
    train = pl.read_parquet(run.files("splits")["train"])
    song, user, device = train["song_id"][0], train["user_id"][0], train["device"][0]
    queries = [{"song_id": song, "k": 5}, {"user_id": user, "device": device, "k": 5}]
    expected = model.predict(None, pd.DataFrame(queries))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", versions["proposed"]["model_uri"],
                               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "MLFLOW_TRACKING_URI": run.mlflow.uri(),  # it starts the venv's uvicorn
                                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
                              stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def post(records):
        request = urllib.request.Request(f"{url}/invocations", data=json.dumps({"dataframe_records": records}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        served = pd.DataFrame(post(queries)["predictions"])
        assert served["song_id"].tolist() == expected["song_id"].tolist() and len(served) == 10
        assert song not in served[served["query"] == 0]["song_id"].tolist()
        assert served[served["query"] == 1]["by"].iloc[0].startswith(("latest session on", "user"))
        mixed = pd.DataFrame(post([{"song_id": song, "k": 2}, {"user_id": "ghost"}])["predictions"])  # answered row by row
        assert mixed["rank"].tolist() == [1, 2, 0] and mixed["error"].iloc[2].startswith("row 1: unknown user_id 'ghost'")
        assert mixed["error"].iloc[:2].isna().all()
        for bad, said in (({"song_id": "no-such-song"}, "unknown song_id 'no-such-song'"),
                          ({"song_id": song, "k": 2.5}, "k must be a whole number"),  # not cast to 2 on the way in
                          ({"song_id": song, "k": "5"}, "not '5' (a str)"),
                          ({"song_id": 42}, "song_id must be text")):
            try:
                post([bad])
                raise AssertionError(f"{bad} was answered")
            except urllib.error.HTTPError as error:
                assert 400 <= error.code < 500 and said in error.read().decode()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        log.close()


def test_the_scale_effect_diagnosis_reruns_metrics_with_every_similarity(run, tmp_path):
    from scripts.scale_effect import run as diagnose

    k = K[-1]
    # the instance's latest stages, as `python -m scripts.scale_effect` reads them (the tests above materialize
    # embedding_us again, and retention has removed the first run's folder of it by now)
    table = diagnose(stage_io.latest(run.instance), tmp_path, k, log=None)
    assert {"proposed/dot", "proposed/cosine-user", "proposed/dot-device"} <= set(table["method"])
    assert {"head", "torso", "tail", "rare", "heard"} <= set(table.columns) and (tmp_path / "scale_effect.csv").exists()
    # the same seed and files: the proposed space's recall is the metrics asset's
    asset = pl.read_parquet(run.files("metrics")["metrics"]).filter((pl.col("k") == k) & (pl.col("method") == "proposed-user"))
    assert table.filter(pl.col("method") == "proposed-user")["recall"].item() == asset["recall"].item()


def test_embedding_uss_trains_with_the_point_the_skip_gram_grid_chose(run):
    # last in this file: it makes a new latest embedding_uss, which the tests above read from the instance
    resources = {"store": run.store, "engine": ComputeEngine(), "settings": PipelineSettings(workers=1), "mlflow": run.mlflow}
    grid = {"enabled": True, "epochs": [2], "alpha": [0.05], "window": [3], "dimensions": 8, "walk_length": 10,
            "walks_per_vertex": 2, "trainer": "numba"}  # one point: it is the best, and none of it the paper's
    tuned = dg.materialize([ASSETS_BY_NAME["skipgram_tuning"], ASSETS_BY_NAME["embedding_uss"]], resources=resources,
                           instance=run.instance, run_config=dg.RunConfig(ops={
                               "skipgram_tuning": {"config": grid}, "embedding_uss": {"config": {"dimensions": 8, "trainer": "numba"}}}))
    files = stage_io.of_result(tuned)
    assert json.loads(files["skipgram_tuning"]["result"].read_text())["paper_score"] is None
    params = json.loads(files["embedding_uss"]["params"].read_text())
    assert (params["epochs"], params["alpha"], params["window"], params["dimensions"]) == (2, 0.05, 3, 8)
    assert params["units_total"] == 2 * 4  # two epochs over the run's 4 walk files
    meta = next(e for e in tuned.get_asset_materialization_events() if e.asset_key.to_user_string() == "embedding_uss").materialization.metadata
    assert meta["settings"].value.startswith("chosen on validation by skipgram_tuning: epochs=2, alpha=0.05, window=3")


def test_the_report_fits_a_terminal_and_judges_every_ordering(run):
    from assets.stage_io import of_result
    from pipeline.analysis.report import WIDTH, render

    lines = render(of_result(run.result)).splitlines()
    assert [line for line in lines if len(line) > WIDTH and "/" not in line] == []  # only a file path may be wider
    verdicts = pl.read_parquet(run.files("metrics")["verdicts"])
    judged = [line for line in lines if line.startswith(("  exp1  ", "  exp2  "))]
    assert len(judged) == verdicts.height and all(v in line for v, line in zip(verdicts["verdict"], judged))
