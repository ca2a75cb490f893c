"""The model endpoint under load: ``mlflow models serve`` of a registered model on 127.0.0.1, hit by many clients at
once for a while, with valid queries (similar songs, a user, a user on a device, drawn at random from the model's own
ids), then with requests over its bounds.

It prints, for each round of load, the latency percentiles and throughput of the valid requests, every answer that was
not 200 (there should be none) and the server's memory (its process tree's resident set) at the peak and after; then
the time a request over the bounds takes to be refused (a 400 before any work), and the memory before and after each
round. The clients run on the same machine as the
server (two cores here), so the figures are the pair's, not the server's alone. Printed, not asserted.

    python -m benchmarks.serving_load --home $LATENT_HOME                   # the latest latent space, 50 clients, 30 s
    python -m benchmarks.serving_load --model models:/latent-listening-mf/1 --clients 10 --seconds 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import psutil

from pipeline.serving.pyfunc import FILES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def space_ids(model_uri: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """The songs, users and (user, device) pairs the model knows, read from its own artifacts."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    folder = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=tempfile.mkdtemp(prefix="serving-load-")))
    space = next(folder.rglob(FILES["meta"])).parent  # the model's write_space folder
    songs = pl.read_parquet(space / FILES["songs"])["song_id"].to_list()
    users = pl.read_parquet(space / FILES["users"])["user_id"].to_list()
    sessions = space / FILES["sessions"]
    pairs = [tuple(r) for r in pl.read_parquet(sessions).select("user_id", "device").iter_rows()] if sessions.exists() else []
    return songs, users, pairs


def tree_rss(process: psutil.Process) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


def post(connection: http.client.HTTPConnection, records: list[dict]) -> tuple[int, bytes]:
    connection.request("POST", "/invocations", body=json.dumps({"dataframe_records": records}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def client(port: int, stop_at: float, queries: list[dict], seed: int, latencies: list[float], failures: list[str], k: int) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while time.monotonic() < stop_at:
        record = {**rng.choice(queries), "k": k}
        t0 = time.perf_counter()
        try:
            status, body = post(connection, [record])
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"{type(error).__name__}: {error}")
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            failures.append(f"HTTP {status}: {body[:200]!r}")
    connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None, help="the LATENT_HOME whose MLflow store holds the model")
    parser.add_argument("--model", default="models:/latent-listening-proposed/latest")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="loads one after another: memory that settles after the first "
                        "is the server's working set, memory that grows each round would be a leak")
    parser.add_argument("--seed", type=int, default=2016)
    args = parser.parse_args(argv)
    if args.home is not None:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{args.home.resolve() / 'mlflow' / 'mlflow.db'}"
    songs, users, pairs = space_ids(args.model)
    rng = random.Random(args.seed)
    queries = ([{"song_id": s} for s in rng.sample(songs, min(len(songs), 2000))]
               + [{"user_id": u} for u in rng.sample(users, min(len(users), 1000))]
               + [{"user_id": u, "device": d} for u, d in rng.sample(pairs, min(len(pairs), 1000))])
    print(f"model {args.model}: {len(songs):,} songs, {len(users):,} users, {len(pairs):,} (user, device) pairs; "
          f"{args.clients} clients for {args.seconds:.0f} s, one query a request, k = {args.k}", flush=True)

    port, bin_dir = free_port(), Path(sys.executable).parent
    server = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", args.model, "--env-manager", "local",
                               "-h", "127.0.0.1", "-p", str(port)], env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start (exit code {server.poll()})")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/ping")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        process = psutil.Process(server.pid)
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for query in queries[:50]:
            post(warm, [{**query, "k": args.k}])
        baseline = tree_rss(process)

        after = []
        for round_ in range(1, args.rounds + 1):
            latencies: list[float] = []
            failures: list[str] = []
            stop_at = time.monotonic() + args.seconds
            threads = [threading.Thread(target=client, args=(port, stop_at, queries, args.seed + 1000 * round_ + i, latencies, failures, args.k))
                       for i in range(args.clients)]
            peak = baseline
            t0 = time.monotonic()
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                peak = max(peak, tree_rss(process))
                time.sleep(0.5)
            wall = time.monotonic() - t0
            time.sleep(5)
            after.append(tree_rss(process))
            ms = np.array(latencies) * 1000
            print(f"\nround {round_}: valid requests: {len(ms):,} in {wall:.1f} s = {len(ms) / wall:.0f} requests/s")
            if len(ms):
                print("latency (ms): " + ", ".join(f"p{p} {np.percentile(ms, p):.1f}" for p in (50, 90, 99)) + f", max {ms.max():.1f}")
            print(f"answers other than 200: {len(failures)}" + (f" (first: {failures[0]})" if failures else ""))
            print(f"server memory (MB, its process tree): {peak:.0f} at the peak, {after[-1]:.0f} 5 s after")

        too_many = [{"song_id": songs[0]}] * 1001
        too_much = [{"song_id": songs[0], "k": 500}] * 201
        for name, records in (("1,001 queries", too_many), ("201 queries x k = 500", too_much)):
            fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # the server closes idle connections
            t1 = time.perf_counter()
            status, body = post(fresh, records)
            print(f"over the bounds ({name}): HTTP {status} in {(time.perf_counter() - t1) * 1000:.0f} ms: "
                  f"{json.loads(body).get('message', body.decode()).rsplit('Error: ', 1)[-1].strip()[:160]}")
        print(f"server memory (MB, its process tree): {baseline:.0f} before the load, "
              + ", ".join(f"{m:.0f} after round {i}" for i, m in enumerate(after, 1)))
        return 0
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)


if __name__ == "__main__":
    raise SystemExit(main())
