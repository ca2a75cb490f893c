"""The Spark engine against a real standalone cluster on 127.0.0.1 (a master and two 1-core workers): every stage
it implements writes the same files as the local engine, byte for byte where the file is text or numpy, frame for
frame (values, order and types) where it is Parquet."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from datetime import datetime

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.contract import Store
from pipeline.engines import ENGINE_STAGES
from pipeline.engines.local import LOCAL
from pipeline.ingest.synthetic import generate
from pipeline.ingest.synthetic_config import SyntheticConfig
from pipeline.network.graph import load_adjacency

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime (apt-get install default-jre-headless; .ci/run installs it)", allow_module_level=True)

NOW = "2026-12-01T00:00:00+00:00"  # the import window's "now", the same for both engines
NOW_DT = datetime.fromisoformat(NOW)
PARAMS = {
    "raw_events": {"format": "canonical", "now": NOW},
    "sessions": {"session_gap_minutes": 10.0, "split_on_device_change": True},
    "splits": {"cutoff": "2016-06-01", "train_sessions": 20, "test_sessions": 5, "min_session_songs": 5},
    "walks_uss": {"walk_length": 10, "walks_per_vertex": 3, "seed": 7},
    "walks_us": {"walk_length": 12, "walks_per_vertex": 2, "seed": 7},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two workers as a real cluster's are: they cannot see this checkout, its virtual environment or its Python (each
    covered in their own mount namespace) and run a copy of Spark; their executors run what the engine ships."""
    from scripts.spark_cluster import StandaloneCluster, free_port, unseen_by_isolated_workers

    cluster = StandaloneCluster(tmp_path_factory.mktemp("spark"), workers=2, cores=1, memory="1g", port=free_port(),
                                webui_port=free_port(), hidden=unseen_by_isolated_workers()).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def spark(cluster, tmp_path_factory):
    """A driver in this process whose executors run this environment, packed and shipped (``spark.archives``)."""
    from pipeline.engines.spark_env import PYTHON, packed_environment, shipping_conf
    from pipeline.engines.spark_session import spark_env, spark_session

    os.environ.update(spark_env(cluster.master), PYSPARK_PYTHON=PYTHON)  # a driver in this process reads it from here
    archive = packed_environment(tmp_path_factory.mktemp("spark-env"))
    session = spark_session(cluster.master, "latent-listening tests", {"spark.sql.shuffle.partitions": "4",
                                                                         "spark.executor.memory": "1g", **shipping_conf(archive)})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def both_engines(spark, tmp_path_factory):
    """Every engine stage run on each engine, each reading its own engine's upstream files."""
    from pipeline.contract import STAGES
    from pipeline.engines.spark import SPARK

    store = Store(tmp_path_factory.mktemp("store"))
    raw = store.version("raw_events", "raw")
    generate(SyntheticConfig(n_users=24, n_songs=600, n_artists=60), raw)
    log = write_canonical_csv(pl.read_parquet(raw["events"]), store.root / "log.csv")
    counts = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pipeline.network.spark.BATCH", 300)  # a Spark walk task's start vertices: several parts a pass
        for stage in COMPARED_HERE:
            for engine, run in (("local", LOCAL[stage]), ("spark", lambda *a, f=SPARK[stage], **k: f(spark, *a, **k))):
                upstream = {r: store.version(r, engine) for r in STAGES[stage].reads}
                out = store.version(stage, engine)
                out.folder.mkdir(parents=True)
                params = {**PARAMS.get(stage, {}), **({"path": str(log)} if stage == "raw_events" else {})}
                counts[stage, engine] = run(upstream, out, None, **params)
    return store, counts


def walk_bytes(path) -> bytes:
    """A pass of walks as one text: its file, or its parts (a Spark task's each) in order."""
    from pipeline.network.walk_reader import walk_parts

    return b"".join(p.read_bytes() for p in walk_parts(path))


def write_canonical_csv(events: pl.DataFrame, path):
    """The synthetic log as a user's canonical CSV, with rows the import must quarantine: a broken line, a time
    outside the window, a row with no song, and exact repeats of earlier rows."""
    text = events.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv()
    lines = text.splitlines()
    lines[5:5] = ["2016-01-01T00:00:00Z,only,three", "1999-01-01T00:00:00Z,u00,web,s1,a00,Pop,English",
                  "2016-01-03T00:00:00Z,u01,web,,a00,Pop,English"]
    lines += lines[100:103] + [lines[1]]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_cluster_runs_tasks_on_both_workers_from_the_shipped_environment_alone(cluster, spark):
    """Every task runs in one of the two executors, with the Python, the libraries and the project's code Spark
    unpacked beside it; the project's checkout, its environment and its Python are not there to fall back on."""
    hidden = cluster.hidden
    assert hidden  # (the function below is shipped by value: it holds the folders, not the cluster)

    def where(_):
        import sys
        import time

        import numpy

        import pipeline
        time.sleep(0.5)  # long enough that one executor cannot take every task before the other's turn
        return (os.getppid(), sys.executable, pipeline.__file__, numpy.__file__,
                tuple(os.path.exists(p) and bool(os.listdir(p)) for p in hidden))

    from pipeline.engines.spark_session import executors

    for _ in range(240):  # both executors registered (the second may still be starting when the first takes tasks)
        if executors(spark) == 2:
            break
        time.sleep(0.5)
    seen = spark.sparkContext.parallelize(range(8), 8).map(where).collect()
    assert len({s[0] for s in seen}) == 2 and cluster.status()["aliveworkers"] == 2
    for _, python, project, numpy_file, visible in seen:
        assert all("/latent_env/" in path for path in (python, project, numpy_file)), (python, project, numpy_file)
        assert not any(visible)  # the hidden folders are empty where the tasks run


# metrics reads the embeddings, baselines and behaviour: it is compared in the Dagster run below
COMPARED_HERE = [s for s in ENGINE_STAGES if s != "metrics"]
# What Spark's executors write as datasets (a part a task; nothing through the driver); the local engine one file.
WRITTEN_BY_EXECUTORS = {"raw_events": {"events", "quarantine"}, "sessions": {"events", "sessions"}, "splits": {"train", "test"},
                        **{f"graph_{n}": {"adjacency", "vertices"} for n in ("uss", "us")},
                        **{f"walks_{n}": {"shard"} for n in ("uss", "us")}}


@pytest.mark.parametrize("stage", COMPARED_HERE)
def test_spark_writes_what_the_local_engine_writes(both_engines, spark, stage):
    store, counts = both_engines
    spark_master = spark.sparkContext.master
    local, spark = store.version(stage, "local"), store.version(stage, "spark")
    compared = []
    for key, file in local.stage.files.items():
        if file.series:
            for i in range(PARAMS[stage]["walks_per_vertex"]):
                assert local.series(key, i).read_bytes() == walk_bytes(spark.series(key, i)), f"{stage} {key} {i}"
            compared.append(key)
            continue
        if not local[key].exists():
            assert not spark[key].exists()
            continue
        if local[key].suffix == ".parquet":
            assert_frame_equal(pl.read_parquet(local[key]), pl.read_parquet(spark[key]))
        elif local[key].suffix == ".npz":
            for a, b in zip(load_adjacency(local[key]), load_adjacency(spark[key])):
                assert a.dtype == b.dtype and np.array_equal(a, b), f"{stage} {key}"
        elif local[key].suffix == ".npy":
            assert np.array_equal(np.load(local[key]), np.load(spark[key]))
        elif key == "stats":  # the walks' record: the same but for the time taken and the engine that took it
            mine, theirs = json.loads(local[key].read_text()), json.loads(spark[key].read_text())
            assert (mine.pop("engine"), theirs.pop("engine")) == ("local", f"spark ({spark_master})")
            assert {**mine, "seconds": 0} == {**theirs, "seconds": 0} and mine["seed"] == PARAMS[stage]["seed"]
        else:
            assert local[key].read_text() == spark[key].read_text(), f"{stage} {key}"
        compared.append(key)
    assert compared, f"{stage}: no file compared"
    first = {key: spark.series(key, 0) if file.series else spark[key] for key, file in local.stage.files.items()}
    datasets = {key for key, file in local.stage.files.items() if file.dataset and first[key].is_dir()}
    assert datasets == WRITTEN_BY_EXECUTORS.get(stage, set())
    assert all(any(first[key].glob(f"part-*{first[key].suffix}")) for key in datasets)
    if stage.startswith("walks_"):  # a part a task, BATCH (300) start vertices each
        n_vertices = counts[stage, "local"]["walks"] // PARAMS[stage]["walks_per_vertex"]
        assert len(list(first["shard"].iterdir())) == -(-n_vertices // 300) > 1
    shared = set(counts[stage, "local"]) & set(counts[stage, "spark"]) - {"seconds"}
    assert shared and all(counts[stage, "local"][k] == counts[stage, "spark"][k] for k in shared)


def test_the_split_drops_as_the_paper_says_on_both(both_engines):
    store, counts = both_engines
    spark = counts["splits", "spark"]
    assert spark["sessions_dropped_short"] > 0  # the generator plants short sessions
    table1 = pl.read_parquet(store.version("splits", "spark")["table1"])
    assert table1["set"].to_list() == ["train", "test"] and table1["events"].min() > 0


def test_a_log_without_users_is_refused_on_spark(spark, tmp_path):
    from pipeline.contract import EVENT_SCHEMA
    from pipeline.engines.spark import SPARK

    store = Store(tmp_path)
    raw = store.version("raw_events", "raw")
    raw.folder.mkdir(parents=True)
    frame = pl.DataFrame({"timestamp": [0, 1], "user_id": ["a", None], "device": ["d", "d"], "song_id": ["s", "t"],
                          "artist": ["x", "x"], "genre": [None, None], "language": [None, None]})
    frame.with_columns(pl.from_epoch("timestamp", "s").dt.replace_time_zone("UTC").cast(EVENT_SCHEMA["timestamp"])) \
         .cast({k: v for k, v in EVENT_SCHEMA.items() if k != "timestamp"}).write_parquet(raw["events"])
    out = store.version("sessions", "spark")
    out.folder.mkdir(parents=True)
    with pytest.raises(ValueError, match="1 events have no user_id"):
        SPARK["sessions"](spark, {"raw_events": raw}, out, None, **PARAMS["sessions"])


ODD = ["u1", " u1", "u1 ", "\ufeffu1", "a\u200bb", "Ærø", "", "x\x00y", "q\"uote", "\u3000", "é–"]
TIMES = ["2016-06-01T12:00:00Z", "2016-06-01 12:00:00", "2016-06-01T12:00:00+08:00", "1464782400", "2016-06-01",
         "1464782400.5", "2016-02-30T00:00:00Z", "2016-06-01T12:00:00.123Z", "", "x", "1999-12-31T23:59:59Z", "9999-12-31"]


def messy_lines(rng, n: int, sep: str, fields: int) -> list[str]:
    """Lines of adversarial cells (odd characters, every timestamp form, short lines), a fifth repeated exactly."""
    lines = []
    for _ in range(n):
        cells = [TIMES[rng.integers(len(TIMES))] if k == (1 if sep == "\t" else 0) else
                 (ODD[rng.integers(len(ODD))] if rng.random() < 0.3 else f"c{k}{rng.integers(20)}") for k in range(fields)]
        if rng.random() < 0.05:
            cells = cells[: rng.integers(fields)]
        lines.append(sep.join(cells))
        if rng.random() < 0.2 and lines:
            lines.append(lines[rng.integers(len(lines))])
    return lines


def messy_log(kind: str, folder):
    """A folder of one format, as users have them, with everything the import must refuse or repeat."""
    from tests.log_shapes import write_listenbrainz, write_spotify

    rng = np.random.default_rng(3)
    folder.mkdir()
    if kind == "lastfm-1k":
        for i, ends in enumerate(["\n", "\r\n"]):
            body = ends.join(messy_lines(rng, 400, "\t", 6)).encode() + b"\n" + b"u\xff2\t2016-06-01\ta\tb\tc\td\n"
            (folder / f"userid-timestamp-artid-artname-traid-traname-{i}.tsv").write_bytes((b"\xef\xbb\xbf" if i else b"") + body)
    elif kind == "canonical":
        for i in range(3):  # the third gzip-compressed: one task, read as a stream
            lines = ["timestamp,user_id,song_id,artist", *messy_lines(rng, 400, ",", 4), "\"2016-06-01\",\"u,1\",s,a",
                     "2016-06-01,u2,\"two\nlines\",a", "2016-06-02,u3,\"s, \"\"quoted\"\"\",a"]  # RFC 4180 records
            text = "\n".join(lines) + ("\n" if i else "")
            if i == 2:
                (folder / "log-2.csv.gz").write_bytes(gzip.compress(text.encode()))
            else:
                (folder / f"log-{i}.csv").write_text(text)
    elif kind == "spotify":
        write_spotify(folder, people=6, years=0.3)
        (folder / "broken").mkdir()
        (folder / "broken" / "Streaming_History_Audio_2007.json").write_text("[{not json")
    else:
        write_listenbrainz(folder, users=6, years=0.3)
    return folder


@pytest.mark.parametrize("kind,salt", [("lastfm-1k", ""), ("canonical", "pepper"), ("spotify", ""), ("listenbrainz", "")])
def test_spark_imports_what_the_local_import_does(spark, tmp_path, kind, salt):
    """Same events (values, types, order), same quarantine (file, row, reason, raw) and same counts, with line files
    cut into many ranges whose row numbers must be stitched back together."""
    from pipeline.contract import StageFiles
    from pipeline.ingest import spark as importing
    from pipeline.ingest.field_rules import Window
    from pipeline.ingest.importers import import_log

    folder = messy_log(kind, tmp_path / "log")
    window = Window.of("2000-01-01", 1.0)
    window = Window(window.earliest, window.days_after, NOW_DT)
    local = StageFiles("raw_events", tmp_path / "local")
    want = import_log(str(folder), "auto", local["events"], local["quarantine"], salt, window=window).as_dict()
    got = importing.import_log(spark, str(folder), "auto", StageFiles("raw_events", tmp_path / "spark"), salt,
                               window=window, range_bytes=700).as_dict()
    assert got == want
    assert want["quarantined"] > 0 and want["accepted"] > 0 and want["read"] == want["accepted"] + want["quarantined"]
    assert_frame_equal(pl.read_parquet(local["events"]), pl.read_parquet(tmp_path / "spark" / "events.parquet"))
    quarantine = pl.read_parquet(local["quarantine"])
    assert_frame_equal(quarantine, pl.read_parquet(tmp_path / "spark" / "quarantine.parquet"))
    if kind in ("lastfm-1k", "canonical"):
        assert quarantine["reason"].str.starts_with("exact duplicate").any()
        assert len(importing.plan(importing.inputs_of(str(folder))[0], kind, {}, 700)[0]) > 10  # many ranges a file


@pytest.mark.parametrize("metric", ["euclidean", "dot"])
def test_nearest_songs_on_spark_are_the_local_ones(spark, metric):
    from pipeline.evaluation.nearest import nearest
    from pipeline.evaluation.spark_search import SparkSearch

    rng = np.random.default_rng(5)
    songs = rng.normal(size=(3_000, 16)).astype(np.float32)
    queries = np.vstack([rng.normal(size=(5_000, 16)).astype(np.float32), songs[:500], songs[:500]])  # repeats too
    exclude = np.concatenate([np.full(5_000, -1), np.arange(500), np.arange(500)])
    search = SparkSearch(spark, query_block=1_024)
    try:
        got = search(queries, songs, 50, metric, exclude)
        assert np.array_equal(got, nearest(queries, songs, 50, metric, exclude))
        assert np.array_equal(search(queries[:7], songs, 10, metric), nearest(queries[:7], songs, 10, metric))
        assert len(search._broadcasts) == 1  # one matrix, broadcast once
    finally:
        search.close()
    assert not (got[5_000:] == exclude[5_000:, None]).any()


def test_spark_word2vec_embeds_every_vertex_with_neighbours_closer_than_strangers(both_engines, spark, monkeypatch):
    """The other trainer: a vector for every vertex, in vertex order, where the graph's edges join vertices that are
    nearer (cosine) than random pairs; a vocabulary past Spark's limit is refused before any work."""
    from pipeline.embedding import spark_word2vec as word2vec
    from pipeline.engines.spark import SPARK
    from pipeline.network.graph import Graph

    store, _ = both_engines
    upstream = {"walks_uss": store.version("walks_uss", "spark")}
    out = store.version("embedding_uss", "spark-word2vec")
    out.folder.mkdir(parents=True)
    trained = SPARK["embedding_uss"](spark, upstream, out, None, trainer="spark-word2vec", spark_partitions=2, dimensions=16,
                                     window=3, epochs=2, seed=1)
    graph = Graph.load(store.version("graph_uss", "spark"))
    vectors = np.load(out["vectors"])
    assert vectors.shape == (graph.n_vertices, 16) and trained["vertices"] == graph.n_vertices
    recorded = json.loads(out["params"].read_text())  # recorded as a resumable training is
    assert recorded["trainer"] == "spark-word2vec" and recorded["spark_partitions"] == 2 and recorded["dimensions"] == 16
    with pytest.raises(ValueError, match="the Spark engine trains with spark-word2vec, not 'gensim'"):
        SPARK["embedding_uss"](spark, upstream, out, None, trainer="gensim")
    assert np.isfinite(vectors).all() and (np.abs(vectors).sum(axis=1) > 0).all()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    src = np.repeat(np.arange(graph.n_vertices), np.diff(graph.indptr))
    edges = np.einsum("ij,ij->i", unit[src], unit[graph.indices]).mean()
    rng = np.random.default_rng(0)
    a, b = rng.integers(graph.n_vertices, size=(2, 20_000))
    assert edges > np.einsum("ij,ij->i", unit[a], unit[b]).mean() + 0.1
    monkeypatch.setattr(word2vec, "LIMIT", graph.n_vertices * 16)
    with pytest.raises(ValueError, match="cannot hold .* 2\\^31"):
        word2vec.train(spark, upstream, out, None, walks="walks_uss", dimensions=16)


def test_a_spark_connect_master_is_refused_with_the_reason(tmp_path):
    import dagster as dg

    from resources import ComputeEngine, SparkSettings

    out = Store(tmp_path).version("sessions", "x")
    with pytest.raises(dg.Failure, match="Spark Connect .* SparkContext"):
        ComputeEngine(engine="spark", spark=SparkSettings(master="sc://127.0.0.1:15002")).run(dg.build_asset_context(), "sessions", {}, out)
    assert not out.folder.exists()


def test_shuffle_partitions_follow_what_the_stage_reads(tmp_path):
    from pipeline.engines.spark_session import stage_inputs, stage_partitions

    store = Store(tmp_path / "store")
    upstream = {"splits": store.version("splits", "x")}
    upstream["splits"].folder.mkdir(parents=True)
    (upstream["splits"].folder / "train.parquet").write_bytes(b"0" * 1000)
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("a.csv", "b.csv"):
        (logs / name).write_bytes(b"0" * 200_000_000)  # 400 MB of log: 7 partitions of 64 MB
    assert stage_inputs(upstream, {}) == [upstream["splits"].folder]
    assert stage_inputs({}, {"path": str(logs / "*.csv")}) == [logs / "a.csv", logs / "b.csv"]
    assert stage_partitions({}, {"path": str(logs)}) == {"spark.sql.shuffle.partitions": str(max(7, 2 * os.cpu_count()))}
    assert stage_partitions(upstream, {}) == {"spark.sql.shuffle.partitions": str(2 * os.cpu_count())}  # small: two a core


def test_a_file_spark_cannot_read_line_by_line_is_refused_as_locally(spark, tmp_path):
    from pipeline.contract import StageFiles
    from pipeline.ingest import spark as importing
    from pipeline.ingest.field_rules import LogInputError
    from pipeline.ingest.importers import import_log

    path = tmp_path / "log.csv"
    path.write_bytes("timestamp,user_id,song_id\n2016-06-01,u,s\n".encode("utf-16"))
    with pytest.raises(LogInputError) as local:
        import_log(str(path), "canonical", tmp_path / "e.parquet", tmp_path / "q.parquet")
    with pytest.raises(LogInputError) as spark_error:
        importing.import_log(spark, str(path), "canonical", StageFiles("raw_events", tmp_path / "spark"))
    assert str(spark_error.value) == str(local.value) and "UTF-16" in str(local.value)
    with pytest.raises(LogInputError, match="unknown format 'tsv'"):
        importing.import_log(spark, str(path), "tsv", StageFiles("raw_events", tmp_path / "spark"))


def test_dagster_runs_the_stages_on_the_cluster_through_pipes(cluster, tmp_path):
    """The whole pipeline with engine: spark: each engine stage (import to metrics) is a spark-submit application on
    the cluster (Pipes), every check passes, and the files, down to the metrics, equal those of a local run."""
    from pyspark.sql import SparkSession

    from resources import ComputeEngine, ListeningLogSource, SparkSettings
    from tests.helpers import materialize_all

    # This process's own application (the tests above) would hold both workers' cores, and the stages' applications
    # would wait for cores forever: a cluster runs applications side by side only when each caps spark.cores.max.
    if (active := SparkSession.getActiveSession()) is not None:
        active.stop()

    events = tmp_path / "synthetic"
    generate(SyntheticConfig(n_users=20, n_songs=500, n_artists=50), Store(events).version("raw_events", "raw"))
    log = write_canonical_csv(pl.read_parquet(next(events.rglob("events.parquet"))), tmp_path / "log.csv")
    source = ListeningLogSource(format="canonical", path=str(log))  # a real log's import, on the cluster too
    spark = materialize_all(tmp_path / "spark", source,  # the pictures' 2-d space trained by Spark ML Word2Vec
                            embedding_uss_2d={"config": {"trainer": "spark-word2vec", "spark_partitions": 2}},
                            engine=ComputeEngine(engine="spark", spark=SparkSettings(
                                master=cluster.master, cores_per_stage=1, event_log_dir=str(tmp_path / "spark-events"),
                                conf={"spark.executor.memory": "1g", "spark.sql.shuffle.partitions": "4"})))
    local = materialize_all(tmp_path / "local", source)
    assert spark.result.success and local.result.success
    checks = spark.result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    logs = [e.message for e in spark.instance.all_logs(spark.result.run_id) if e.message]
    assert any("on spark://127.0.0.1" in m and "application app-" in m for m in logs)  # the job's own log line, via Pipes
    for stage in ENGINE_STAGES:
        for key, file in local.files(stage).stage.files.items():
            if file.name.endswith(".parquet") and local.files(stage)[key].exists():
                assert_frame_equal(pl.read_parquet(local.files(stage)[key]), pl.read_parquet(spark.files(stage)[key]))
    for network in ("uss", "us"):
        for i in range(4):
            local_pass, spark_pass = local.files(f"walks_{network}").series("shard", i), spark.files(f"walks_{network}").series("shard", i)
            assert spark_pass.is_dir() and local_pass.read_bytes() == walk_bytes(spark_pass)
    assert any("exp1 proposed: top" in m for m in logs)  # the metrics stage's progress, from the Spark driver
    assert any("Spark Word2Vec: " in m and "2 partition(s)" in m for m in logs)
    trained = json.loads(spark.files("embedding_uss_2d")["params"].read_text())
    assert trained["trainer"] == "spark-word2vec" and trained["dimensions"] == 2
    raw = spark.result.asset_materializations_for_node("raw_events")[0].metadata
    assert raw["quarantined"].value == 7 and raw["read"].value == raw["accepted"].value + 7
    meta = spark.result.asset_materializations_for_node("sessions")[0].metadata
    assert meta["engine"].value == f"spark ({cluster.master})"
    # each asset names its application, capped at one core, whose event log the history server can read
    application = meta["spark application"].value
    assert application.startswith("app-") and meta["spark cores (spark.cores.max)"].value == "1"
    assert meta["spark environment"].value.startswith("latent_env-")  # the packed environment its workers ran
    assert meta["spark event logs"].value == str(tmp_path / "spark-events")
    assert any(application in p.name for p in (tmp_path / "spark-events").iterdir())
    word2vec = spark.result.asset_materializations_for_node("embedding_uss_2d")[0].metadata
    assert word2vec["spark application"].value.startswith("app-") and word2vec["spark application"].value != application
