"""The Spark engine against the local one, stage by stage: wall time and peak memory at growing log sizes.

For each size a seeded synthetic log (the paper-scale preset shrunk by its users, as in benchmarks/scaling.py) is
written once as a canonical CSV, the form a real log arrives in. Then every engine stage from the import to the walks
runs on each configuration:

    local     this machine's engine (the stage in its own process, its threads on both cores)
    spark-1   a standalone cluster on 127.0.0.1 with 1 worker (1 core)
    spark-2   the same with 2 workers (1 core each)

Each stage runs in a fresh process, as the engine resource runs it (spark-submit's client-mode driver for Spark), so
the wall time includes starting the application. Peak memory is the highest sum of resident memory, sampled every
0.2 s, over the stage's process tree (for Spark: its driver JVM) and the cluster's (workers, executors, their Python
workers). Last, the evaluation's exact nearest-song search (``pipeline.evaluation.nearest`` against ``pipeline.evaluation.spark_search``):
the size's test sessions as queries against its train catalogue, 128-d, top 50.

Every configuration reads the same log and must write the same files: the script compares each stage's Parquet
output to the local engine's and stops on a difference.

On each Spark configuration the table stages (sessions, splits) also run as the plainest native Spark SQL writes
them (``native_sessions``, ``native_splits``: the same rules and rows, each table written by Spark's own Parquet
writer, every count in as few passes as the rules allow), in a fresh application each, and the script prints the
project's time over the native one: the cost of what the stage does beyond the native formulation (the contract's
column types written by the tasks, the checks and counts it reports).

    python benchmarks/spark.py --events 4 16          # millions of generated events
    python benchmarks/spark.py --events 4 --configs spark-2 --stages raw_events sessions splits   # the table stages
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
import psutil  # noqa: E402

from pipeline.contract import STAGES, Store  # noqa: E402

STAGE_ORDER = ["raw_events", "sessions", "splits", "graph_uss", "graph_us", "walks_uss", "walks_us"]
NOW = "2026-12-01T00:00:00+00:00"
EVENTS_PER_USER = 2_053  # as benchmarks/scaling.py: generated events a user of the paper-scale preset
EXECUTOR_MEMORY = "5g"


def write_log(million: float, folder: Path) -> Path:
    from pipeline.ingest.synthetic import SyntheticConfig, generate

    csv = folder / "log.csv"
    if csv.exists():
        return csv
    paper = SyntheticConfig.paper_scale()
    users = max(50, round(million * 1e6 / EVENTS_PER_USER))
    ratio = users / paper.n_users
    config = SyntheticConfig.paper_scale(n_users=users, n_songs=max(500, round(paper.n_songs * ratio)),
                                         n_artists=max(50, round(paper.n_artists * ratio)))
    raw = Store(folder / "synthetic").version("raw_events", "synthetic")
    generate(config, raw)
    pl.scan_parquet(raw["events"]).with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ")) \
      .sink_csv(folder / ".log.csv")
    (folder / ".log.csv").rename(csv)
    return csv


def params(stage: str, log: Path) -> dict:
    if stage == "raw_events":
        return {"path": str(log), "format": "canonical", "now": NOW}
    if stage.startswith("walks"):
        return {"seed": 1}
    return {}


def native_sessions(spark, upstream: dict, out, session_gap_minutes: float = 10.0) -> dict:
    """Sessions as native Spark SQL writes them: the same rule, ids and rows as the stage, Spark's writer."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    events = spark.read.parquet(str(upstream["raw_events"]["events"])).withColumn(
        "_order", F.struct(F.col("_metadata.file_name"), F.col("_metadata.row_index")))
    by_time = Window.partitionBy("user_id").orderBy("timestamp", "_order")
    previous, device = F.lag("timestamp").over(by_time), F.coalesce(F.col("device"), F.lit(""))
    new = previous.isNull() | ((F.unix_micros("timestamp") - F.unix_micros(previous)) >= int(session_gap_minutes * 60e6)) \
        | (device != F.lag(device).over(by_time))
    flagged = events.withColumn("_within", F.sum(F.coalesce(new, F.lit(True)).cast("long")).over(
        by_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)) - 1)
    users = flagged.groupBy("user_id").agg((F.max("_within") + 1).alias("n"))
    offsets = users.withColumn("_first", F.coalesce(F.sum("n").over(Window.orderBy("user_id").rowsBetween(
        Window.unboundedPreceding, -1)), F.lit(0)))
    sessionized = flagged.join(F.broadcast(offsets.select("user_id", "_first")), "user_id") \
        .withColumn("session_id", F.col("_first") + F.col("_within")).orderBy("user_id", "timestamp", "_order").cache()
    sessionized.drop("_order", "_first", "_within").write.mode("overwrite").parquet(str(out["events"]))
    sessionized.groupBy("session_id").agg(
        F.min("user_id").alias("user_id"), F.min_by("device", F.struct("timestamp", "_order")).alias("device"),
        F.min("timestamp").alias("start"), F.max("timestamp").alias("end"), F.count(F.lit(1)).alias("n_songs"),
    ).orderBy("session_id").write.mode("overwrite").parquet(str(out["sessions"]))
    return {}


def native_splits(spark, upstream: dict, out) -> dict:
    """The real-life split as native Spark SQL writes it: the same rules and rows, every count in one pass where the
    rules allow, Spark's writer."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from pipeline.sessions.splits import SplitParams, parse_cutoff
    p = SplitParams()  # the settings the stage runs with here (params: {})
    cut, n_train, n_test, min_songs = parse_cutoff(p.cutoff), p.train_sessions, p.test_sessions, p.min_session_songs
    events = spark.read.parquet(str(upstream["sessions"]["events"])).withColumn(
        "_order", F.struct(F.col("_metadata.file_name"), F.col("_metadata.row_index")))
    sessions = events.groupBy("session_id").agg(F.min("user_id").alias("user_id"), F.min("timestamp").alias("start"),
                                                F.max("timestamp").alias("end"), F.count(F.lit(1)).alias("n_songs")).cache()
    long_enough = F.col("n_songs") >= min_songs
    before, after = long_enough & (F.col("end") < F.lit(cut)), long_enough & (F.col("start") >= F.lit(cut))
    sessions.agg(F.sum("n_songs"), F.count(F.lit(1)), F.countDistinct("user_id"),
                 *[F.sum(r.cast("long")) for r in (long_enough, before, after)]).first()

    def first(frame, n, latest):
        start = F.col("start").desc() if latest else F.col("start").asc()
        return frame.withColumn("_rank", F.row_number().over(Window.partitionBy("user_id").orderBy(start, "session_id"))) \
            .withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy("user_id"))) \
            .filter((F.col("_n") >= n) & (F.col("_rank") <= n)).select("session_id", "user_id")

    train_ids = first(sessions.filter(before), n_train, True).cache()
    test_ids = first(sessions.filter(after).join(train_ids.select("user_id").distinct(), "user_id", "left_semi"), n_test, False)
    train = events.join(F.broadcast(train_ids.select("session_id")), "session_id", "left_semi").orderBy("_order")
    test = events.join(F.broadcast(test_ids.select("session_id")), "session_id", "left_semi") \
        .join(train.select("song_id").distinct(), "song_id", "left_semi").orderBy("_order")
    columns = [c for c in events.columns if c != "_order"]
    train.select(*columns).write.mode("overwrite").parquet(str(out["train"]))
    test.select(*columns).write.mode("overwrite").parquet(str(out["test"]))
    for name in ("train", "test"):  # Table 1
        spark.read.parquet(str(out[name])).agg(F.count(F.lit(1)), F.countDistinct("user_id"), F.countDistinct("song_id"),
                                               F.countDistinct("session_id")).first()
    return {}


NATIVE = {"sessions": native_sessions, "splits": native_splits}


def child(args) -> None:
    """One stage on one engine, in this process (a Spark driver in client mode, as spark-submit starts it)."""
    store = Store(args.root)
    upstream = {r: store.version(r, "bench") for r in STAGES[args.stage].reads}
    out = store.version(args.stage, "native" if args.native else "bench")
    out.folder.mkdir(parents=True, exist_ok=True)
    if args.native:
        from pipeline.engines.spark_session import spark_session, stage_partitions
        spark = spark_session(args.master, f"bench native {args.stage}", {"spark.executor.memory": EXECUTOR_MEMORY,
                                                                         **stage_partitions(upstream, {})})
        try:
            counts = NATIVE[args.stage](spark, upstream, out)
        finally:
            spark.stop()
    elif args.master == "local":
        from pipeline.engines.local import LOCAL
        counts = LOCAL[args.stage](upstream, out, None, **json.loads(args.params))
    else:
        from pipeline.engines.spark import SPARK
        from pipeline.engines.spark_session import spark_session, stage_partitions
        spark = spark_session(args.master, f"bench {args.stage}", {"spark.executor.memory": EXECUTOR_MEMORY,  # partitions as the engine sets them
                                                                  **stage_partitions(upstream, json.loads(args.params))})
        try:
            counts = SPARK[args.stage](spark, upstream, out, None, **json.loads(args.params))
        finally:
            spark.stop()
    print(json.dumps({k: v for k, v in counts.items() if isinstance(v, (int, float))}))


class PeakMemory:
    """The highest summed RSS over some process trees, sampled in a thread."""

    def __init__(self, roots: list[int]):
        self.roots, self.peak, self._stop = roots, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for root in self.roots:
                try:
                    p = psutil.Process(root)
                    for q in [p, *p.children(recursive=True)]:
                        total += q.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_stage(root: Path, stage: str, master: str, log: Path, cluster_pids: list[int], native: bool = False) -> tuple[float, float]:
    command = [sys.executable, __file__, "_stage", "--root", str(root), "--stage", stage, "--master", master,
               "--params", json.dumps(params(stage, log)), *(["--native"] if native else [])]
    from pipeline.engines.spark_session import spark_env
    env = spark_env(master) if master != "local" else dict(os.environ)
    t0 = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakMemory([process.pid, *cluster_pids]) as memory:
        stdout, stderr = process.communicate()
    seconds = time.perf_counter() - t0
    if process.returncode:
        raise SystemExit(f"{stage} on {master} failed:\n{stderr[-3000:]}")
    return seconds, memory.peak / 2**30


def same_walks(one: Path, other: Path) -> bool:
    """Whether a pass of walks (one file, or a folder of parts in order) holds the bytes of the file ``one``."""
    from pipeline.network.walk_reader import walk_parts

    with open(one, "rb") as fh:
        for part in walk_parts(other):
            with open(part, "rb") as theirs:
                while block := theirs.read(1 << 24):
                    if fh.read(len(block)) != block:
                        return False
        return fh.read(1) == b""


def same_files(a: Path, b: Path, stage: str) -> None:
    """Stop unless configuration ``b`` wrote what the local engine (``a``) wrote; a corpus checked, then deleted."""
    import shutil

    import numpy as np
    from polars.testing import assert_frame_equal

    from pipeline.network.graph import load_adjacency
    local, other = Store(a).version(stage, "bench"), Store(b).version(stage, "bench")
    for key, file in STAGES[stage].files.items():
        if file.series:
            for i in range(len(list(other.folder.glob(file.name.replace("{:03d}", "*"))))):
                if not same_walks(local.series(key, i), other.series(key, i)):
                    raise SystemExit(f"{stage}: {other.series(key, i)} differs from the local engine's")
                shutil.rmtree(other.series(key, i)) if other.series(key, i).is_dir() else other.series(key, i).unlink()
        elif local[key].suffix == ".parquet" and local[key].exists():
            assert_frame_equal(pl.read_parquet(local[key]), pl.read_parquet(other[key]))
        elif local[key].suffix == ".npz":
            if not all(np.array_equal(x, y) for x, y in zip(load_adjacency(local[key]), load_adjacency(other[key]))):
                raise SystemExit(f"{stage}: {other[key]} differs from the local engine's")


def search_seconds(root: Path, master: str) -> tuple[float, int, int]:
    """Exact top 50 of the test sessions' queries against the train catalogue (random 128-d vectors)."""
    store = Store(root)
    splits = store.version("splits", "bench")
    songs = pl.scan_parquet(splits["train"]).select(pl.col("song_id").n_unique()).collect().item()
    queries = pl.scan_parquet(splits["test"]).select(pl.col("session_id").n_unique()).collect().item()
    code = f"""
import time, numpy as np
rng = np.random.default_rng(0)
songs, queries = rng.normal(size=({songs}, 128)).astype(np.float32), rng.normal(size=({queries}, 128)).astype(np.float32)
if {master!r} == "local":
    from pipeline.evaluation.nearest import nearest as search
    t0 = time.perf_counter(); search(queries, songs, 50, "euclidean")
else:
    from pipeline.engines.spark_session import spark_session
    from pipeline.evaluation.spark_search import SparkSearch
    spark = spark_session({master!r}, "bench search", {{"spark.executor.memory": "{EXECUTOR_MEMORY}"}})
    search = SparkSearch(spark)
    t0 = time.perf_counter(); search(queries, songs, 50, "euclidean")
print(time.perf_counter() - t0)
"""
    from pipeline.engines.spark_session import spark_env
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=spark_env(master), capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"search on {master} failed:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1]), songs, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=float, nargs="+", default=[4, 16], help="sizes, millions of generated events")
    parser.add_argument("--configs", nargs="+", default=["local", "spark-1", "spark-2"])
    parser.add_argument("--stages", nargs="+", default=STAGE_ORDER, choices=STAGE_ORDER, help="a prefix of the stages (each reads the one before)")
    parser.add_argument("--base", default=str(ROOT / ".data" / "spark-bench"))
    args = parser.parse_args()
    from scripts.spark_cluster import StandaloneCluster, free_port

    results = []
    for million in args.events:
        folder = Path(args.base) / f"{million:g}M"
        folder.mkdir(parents=True, exist_ok=True)
        log = write_log(million, folder)
        for config in args.configs:
            cluster = None
            if config != "local":
                cluster = StandaloneCluster(folder / f"cluster-{config}", workers=int(config.split("-")[1]), cores=1,
                                            memory="6g", port=free_port(), webui_port=free_port()).start()
            try:
                root = folder / config
                master = cluster.master if cluster else "local"
                pids = list(cluster.pids.values()) if cluster else []
                for stage in args.stages:
                    seconds, peak = run_stage(root, stage, master, log, pids)
                    if config != "local" and (folder / "local").exists():
                        same_files(folder / "local", root, stage)
                    results.append({"events_M": million, "config": config, "stage": stage, "seconds": round(seconds, 1),
                                    "peak_GB": round(peak, 2)})
                    print(json.dumps(results[-1]), flush=True)
                    if config != "local" and stage in NATIVE:
                        native, peak = run_stage(root, stage, master, log, pids, native=True)
                        results.append({"events_M": million, "config": config, "stage": f"{stage} (native SQL)",
                                        "seconds": round(native, 1), "peak_GB": round(peak, 2)})
                        print(json.dumps({**results[-1], "project / native": round(seconds / native, 2)}), flush=True)
                if args.stages != STAGE_ORDER:
                    continue
                seconds, songs, queries = search_seconds(root, master)
                results.append({"events_M": million, "config": config, "stage": f"search ({queries:,} x {songs:,})",
                                "seconds": round(seconds, 1), "peak_GB": None})
                print(json.dumps(results[-1]), flush=True)
            finally:
                if cluster:
                    cluster.stop()
    table = pl.DataFrame(results).pivot("config", index=["events_M", "stage"], values="seconds", sort_columns=False)
    with pl.Config(tbl_rows=100, tbl_width_chars=200):
        print("\nwall seconds per stage\n", table)
        print("\npeak memory, GB (sum of RSS over the stage's processes and the cluster's)\n",
              pl.DataFrame(results).filter(pl.col("peak_GB").is_not_null()).pivot("config", index=["events_M", "stage"], values="peak_GB"))
    (Path(args.base) / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_stage":
        p = argparse.ArgumentParser()
        for name in ("--root", "--stage", "--master", "--params"):
            p.add_argument(name, required=True)
        p.add_argument("--native", action="store_true")
        child(p.parse_args(sys.argv[2:]))
    else:
        main()
