"""The stage contract: the asset graph is the contract's, stages get only what they read, old materializations go."""

import re
from pathlib import Path

import dagster as dg
import pytest

from assets import stage_io
from assets.definitions import ASSETS, defs
from pipeline.contract import STAGE_OF_ASSET, STAGES, StageFiles, Store, upstream_assets
from resources import ComputeEngine, DataStore, ListeningLogSource, MlflowTracking, PipelineSettings

ROOT = Path(__file__).resolve().parent.parent


def test_every_asset_depends_on_exactly_the_stages_its_stage_reads():
    graph = defs.resolve_asset_graph()
    assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert assets == set(STAGE_OF_ASSET)
    for key in graph.get_all_asset_keys():
        stage = STAGE_OF_ASSET[key.to_user_string()]
        parents = {p.to_user_string() for p in graph.get(key).parent_keys}
        assert parents == set(upstream_assets(stage)), stage


def test_a_stage_is_handed_only_the_stages_it_reads(tmp_path):
    """An asset reaching for a stage it does not depend on gets no folder for it."""
    seen = {}

    @dg.asset(name="sessions", deps=upstream_assets("sessions"))
    def probe(context: dg.AssetExecutionContext):
        seen.update(stage_io.inputs(context))

    instance = dg.DagsterInstance.ephemeral()
    raw = next(a for a in ASSETS if "raw_events" in {k.to_user_string() for k in a.keys})
    resources = {"store": DataStore(base_dir=str(tmp_path / "store")), "engine": ComputeEngine(), "settings": PipelineSettings(),
                 "source": ListeningLogSource(n_users=4, n_songs=50, n_artists=5), "mlflow": MlflowTracking(enabled=False)}
    assert dg.materialize([raw], instance=instance, resources=resources).success
    assert dg.materialize([probe], instance=instance, resources=resources).success
    assert set(seen) == {"raw_events"} and seen["raw_events"]["events"].exists()
    with pytest.raises(KeyError, match="declares no file 'train'"):
        seen["raw_events"]["train"]


def test_no_stage_file_is_named_outside_the_contract():
    """Stage files are named once, in pipeline/contract.py: the assets, their checks, the resources, the
    report, the paper runner and the benchmarks ask for them by key (the science in pipeline/ takes paths)."""
    names = {f.name for s in STAGES.values() for f in s.files.values() if not f.series and "." in f.name}
    pattern = re.compile(r"""["'](%s)["']""" % "|".join(re.escape(n) for n in sorted(names)))
    offenders = []
    for folder in ("assets", "resources", "paper_run", "scripts", "benchmarks"):
        for path in [*sorted((ROOT / folder).rglob("*.py")), ROOT / "pipeline" / "analysis" / "report.py"]:  # subpackages too
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) and "dicts=" not in line:  # (MLflow artifact names are not stage files)
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_stage_files_name_each_declared_file_once():
    files = StageFiles("walks_uss", "/x")
    assert files["index"] == Path("/x/shards.json") and files.series("shard", 3) == Path("/x/pass-003.txt")
    with pytest.raises(KeyError, match="a series of files"):
        files["shard"]
    assert set(files) == {"index", "vertex_counts", "stats"}
    store = Store(Path("/s"))
    assert store.version("splits", "run1").folder == Path("/s/splits/runs/run1")
    assert store.checkpoints("embedding_us") == Path("/s/embedding_us/checkpoints")


def test_retention_keeps_the_newest_materializations_those_of_runs_in_progress_and_other_instances(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    store = DataStore(base_dir=str(tmp_path / "store"), keep_materializations=2)
    raw = next(a for a in ASSETS if "raw_events" in {k.to_user_string() for k in a.keys})
    resources = {"store": store, "engine": ComputeEngine(), "settings": PipelineSettings(), "mlflow": MlflowTracking(enabled=False),
                 "source": ListeningLogSource(n_users=4, n_songs=50, n_artists=5)}
    runs_dir = Store(store.root()).runs("raw_events")

    # a run still in progress, a failed (killed) run, and a folder no run knows
    going = instance.add_run(dg.DagsterRun(job_name="x", run_id="going", status=dg.DagsterRunStatus.STARTED))
    failed = instance.add_run(dg.DagsterRun(job_name="x", run_id="killed", status=dg.DagsterRunStatus.FAILURE))
    for name in (going.run_id, failed.run_id, "orphan"):
        (runs_dir / name).mkdir(parents=True)
        (runs_dir / name / ".events.parquet.partial-1").write_text("half")

    ids = [dg.materialize([raw], instance=instance, resources=resources).run_id for _ in range(3)]
    # the killed run's folder goes; the folder no run of this instance knows is another instance's: it stays
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted([*ids[1:], "going", "orphan"])
    # every recorded location of the newest two is still there, and it is the latest's that stages read
    assert stage_io.located(instance, None, "raw_events").folder == runs_dir / ids[2]


def test_every_asset_shows_what_it_is_made_with():
    graph = defs.resolve_asset_graph()
    kinds = {k.to_user_string(): set(graph.get(k).kinds) for k in graph.get_all_asset_keys()}
    assert all(kinds.values()) and set(kinds) == set(STAGE_OF_ASSET)  # every asset shows some, and the contract names them all
    assert kinds["walks_uss"] == {"numba", "mlflow"} and {"gensim", "mlflow"} <= kinds["embedding_uss"]
    assert kinds["quarantine"] == {"parquet"} and "mlflow" in kinds["metrics"]  # the quarantine logs nothing of its own


def test_the_data_team_owns_the_log_to_the_splits_and_the_science_team_the_rest():
    graph = defs.resolve_asset_graph()
    owners = {k.to_user_string(): list(graph.get(k).owners) for k in graph.get_all_asset_keys()}
    data = {a for a, o in owners.items() if o == ["team:data-engineering"]}
    assert data == {"raw_events", "quarantine", "sessions", "split_plan", "splits"}
    assert all(o == ["team:recsys-science"] for a, o in owners.items() if a not in data)


def test_a_store_without_room_is_named_with_the_stage(tmp_path):
    raw = next(a for a in ASSETS if "raw_events" in {k.to_user_string() for k in a.keys})
    resources = {"store": DataStore(base_dir=str(tmp_path / "store"), min_free_gb=1e9), "engine": ComputeEngine(), "settings": PipelineSettings(),
                 "source": ListeningLogSource(n_users=4, n_songs=50, n_artists=5), "mlflow": MlflowTracking(enabled=False)}
    result = dg.materialize([raw], resources=resources, raise_on_error=False)
    (failure,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.user_failure_data.description
    assert message.startswith("raw_events: only") and str(tmp_path / "store" / "raw_events" / "runs") in message


def test_a_materialization_from_before_run_folders_asks_to_be_redone():
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetMaterialization("splits", metadata={"path": "/old/store/splits"}))
    with pytest.raises(dg.Failure, match="predates run folders .* materialize splits again"):
        stage_io.located(instance, None, "splits")


def test_code_versions_follow_the_science_modules(tmp_path, monkeypatch):
    """Editing a pipeline module changes the code_version of exactly the assets built on it (the UI then marks them)."""
    import shutil

    from assets import _meta
    from assets.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = [k.to_user_string() for k in graph.get_all_asset_keys()]
    assert all(graph.get(k).code_version for k in graph.get_all_asset_keys())
    before = {a: _meta.code_version(a) for a in assets}
    shutil.copytree(_meta.PIPELINE, tmp_path / "pipeline")
    monkeypatch.setattr(_meta, "PIPELINE", tmp_path / "pipeline")
    _meta.code_version.cache_clear()
    with open(tmp_path / "pipeline" / "sessions" / "sessions.py", "a") as fh:
        fh.write("\n# an edit\n")
    after = {a: _meta.code_version(a) for a in assets}
    _meta.code_version.cache_clear()
    changed = {a for a in assets if before[a] != after[a]}
    # the stage itself, and the stages whose modules import it (evaluation reads train sessions with it)
    assert {"sessions", "metrics", "model"} <= changed and not changed & {"raw_events", "splits", "walks_uss", "embedding_uss", "plots"}
    assert changed == {a for a in assets if "sessions.sessions" in _meta.science(a)}


def test_the_science_behind_an_asset_is_derived_from_its_stages_imports():
    from assets import _meta

    source = ("import os\nfrom pipeline import defaults, io\nfrom pipeline.network.graph import Graph\nimport pipeline.network.walks\n"
              "from pipeline.evaluation import nearest, strata as s\nfrom . import x\n")
    assert _meta.imports_of(source) == {"defaults", "io", "network.graph", "network.walks", "evaluation", "evaluation.nearest",
                                        "evaluation.strata"}
    assert _meta.science("graph_uss") == ["contract", "io", "network.graph", "sparse"]  # graph.py imports these three, they nothing more
    assert {"embedding.embedding", "embedding.trainers", "embedding.skipgram", "network.walks"} <= set(_meta.science("embedding_us"))


def test_the_ui_shows_results_before_timings():
    from assets.stage_io import results_first

    metadata = {"exp1.proposed.seconds": 0.1, "test_sessions": 2400, "engine": "local", "Exp 1 recall@k": "table",
                "words_per_second": 5e5, "shards trained": 20, "vertices": 16213}
    assert list(results_first(metadata)) == ["test_sessions", "Exp 1 recall@k", "vertices",
                                             "exp1.proposed.seconds", "engine", "words_per_second", "shards trained"]
