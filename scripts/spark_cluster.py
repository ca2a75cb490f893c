"""A Spark standalone cluster on 127.0.0.1: one master and N workers, started and stopped by PID.

    make spark-cluster                    (or: python -m scripts.spark_cluster start [--workers 2])
    python -m scripts.spark_cluster stop
    python -m scripts.spark_cluster status

For trying the Spark engine on one machine (``--engine spark --spark-master spark://127.0.0.1:7077``) and for the
tests, which start their own on free ports. The pyspark wheel has no ``start-master.sh``: each daemon is started
with ``bin/spark-class`` (its own process group, its log in ``<root>/logs``) and stopped by the PID recorded in
``<root>/pids``. Every port listens on 127.0.0.1 only.

``--isolated`` (root only) starts the workers as a cluster's workers are: they cannot see this project, its virtual
environment or its Python (each is covered by an empty folder in the workers' own mount namespace) and run a copy of
Spark of their own, so their executors run only what the engine ships them (``spark.ship_environment``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.io import default_home


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise SystemExit("pyspark is not installed: make install-dev (the dev extras hold it) or pip install -e '.[spark]'") from None
    return Path(pyspark.__file__).parent


def unseen_by_isolated_workers() -> tuple[str, ...]:
    """What a worker of a real cluster does not have: this project's checkout, its virtual environment and the Python
    that environment was made from."""
    from pipeline.engines.spark_env import PROJECT
    folders = {Path(p).resolve() for p in (PROJECT, sys.prefix, sys.base_prefix)} - {Path("/"), Path("/usr"), Path("/usr/local")}
    return tuple(sorted(str(f) for f in folders if not any(o != f and o in f.parents for o in folders)))  # outermost only


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_env(root: Path) -> dict[str, str]:
    """Spark's daemons and drivers on loopback, their scratch space under ``root``."""
    from pipeline.engines.spark_session import spark_env
    return {**spark_env(), "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_MASTER_HOST": "127.0.0.1",
            "SPARK_LOG_DIR": str(root / "logs"), "SPARK_WORKER_DIR": str(root / "work"), "SPARK_LOCAL_DIRS": str(root / "tmp")}


@dataclass
class StandaloneCluster:
    root: Path
    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    port: int = 7077
    webui_port: int = 8080
    pids: dict[str, int] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()  # folders the workers cannot see (isolated workers)

    @property
    def master(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "pids" / "cluster.json"

    def _daemon(self, name: str, cls: str, *args: str, hidden: tuple[str, ...] = ()) -> None:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        log = open(self.root / "logs" / f"{name}.log", "ab")
        env = loopback_env(self.root)
        command = [str(spark_home() / "bin" / "spark-class"), cls, *args]
        if hidden:  # its own mount namespace, each hidden folder covered by an empty one, and its own copy of Spark
            env["SPARK_HOME"] = str(self._own_spark())
            covers = " && ".join(f"mount -t tmpfs -o size=1m,mode=0755 latent-hidden {shlex.quote(p)}" for p in hidden)
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{covers} && exec "$@"', "sh",
                       str(Path(env["SPARK_HOME"]) / "bin" / "spark-class"), *command[1:]]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   start_new_session=True)
        self.pids[name] = process.pid

    def _own_spark(self) -> Path:
        """A copy of Spark (its jars, scripts and Python library) outside the hidden folders."""
        own = self.root / "spark"
        if not own.exists():
            home = spark_home()
            for part in ("jars", "bin", "sbin", "python/lib"):
                shutil.copytree(home / part, own / part)
        return own

    def start(self, timeout: float = 90) -> "StandaloneCluster":
        for sub in ("logs", "work", "tmp", "pids"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._daemon("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(self.port),
                     "--webui-port", str(self.webui_port))
        self._save()
        self._wait(lambda status: status is not None, timeout, "the master")
        for i in range(1, self.workers + 1):
            self._daemon(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--webui-port",
                         str(free_port()), "--cores", str(self.cores), "--memory", self.memory, "--work-dir",
                         str(self.root / "work"), self.master, hidden=self.hidden)
        self._save()
        self._wait(lambda status: status is not None and status.get("aliveworkers", 0) >= self.workers, timeout,
                   f"{self.workers} workers")
        return self

    def status(self) -> dict | None:
        """The master's JSON status (workers, cores, applications), or None if it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.webui_port}/json/", timeout=2) as response:
                return json.load(response)
        except OSError:
            return None

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [name for name, pid in self.pids.items() if not _alive(pid)]
            if dead:
                self.stop()
                raise RuntimeError(f"Spark {', '.join(dead)} exited at start: see {self.root / 'logs'}")
            if ready(self.status()):
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{what} of the Spark cluster did not come up within {timeout:.0f} s: see {self.root / 'logs'}")

    def _save(self) -> None:
        self.pid_file.write_text(json.dumps({"master": self.master, "webui_port": self.webui_port, "pids": self.pids}))

    @classmethod
    def load(cls, root: Path) -> "StandaloneCluster":
        record = json.loads((root / "pids" / "cluster.json").read_text())
        port = int(record["master"].rsplit(":", 1)[1])
        return cls(root, workers=len(record["pids"]) - 1, port=port, webui_port=record["webui_port"], pids=record["pids"])

    def stop(self, timeout: float = 20) -> None:
        """Workers first, then the master: SIGTERM to each daemon's process group, SIGKILL after ``timeout``."""
        for name in sorted(self.pids, key=lambda n: n == "master"):
            _terminate(self.pids[name], timeout)
        self.pids.clear()
        self.pid_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is not alive
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--root", type=Path, default=default_home() / "spark", help="logs, PIDs and scratch space")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores of each worker")
    parser.add_argument("--memory", default="2g", help="memory of each worker")
    parser.add_argument("--port", type=int, default=7077)
    parser.add_argument("--webui-port", type=int, default=8080)
    parser.add_argument("--isolated", action="store_true", help="workers that cannot see this project, its environment "
                        "or its Python (root only; the engine ships them its environment)")
    args = parser.parse_args(argv)
    if args.action == "start":
        if (args.root / "pids" / "cluster.json").exists():
            print(f"a cluster is recorded in {args.root / 'pids'}: stop it first (python -m scripts.spark_cluster stop)")
            return 1
        cluster = StandaloneCluster(args.root, args.workers, args.cores, args.memory, args.port, args.webui_port,
                                    hidden=unseen_by_isolated_workers() if args.isolated else ()).start()
        print(f"Spark master {cluster.master} (UI http://127.0.0.1:{cluster.webui_port}), {cluster.workers} workers of "
              f"{cluster.cores} core(s) and {cluster.memory}; PIDs in {cluster.pid_file}")
        return 0
    if not (args.root / "pids" / "cluster.json").exists():
        print(f"no cluster recorded in {args.root / 'pids'}")
        return 0 if args.action == "stop" else 1
    cluster = StandaloneCluster.load(args.root)
    if args.action == "stop":
        cluster.stop()
        print("stopped")
        return 0
    status = cluster.status()
    print(json.dumps({k: status[k] for k in ("url", "aliveworkers", "cores", "coresused", "status")} if status else
                     {"master": cluster.master, "status": "not answering"}, indent=1))
    return 0 if status else 1


if __name__ == "__main__":
    sys.exit(main())
