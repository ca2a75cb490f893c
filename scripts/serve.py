"""The team server: Dagster (webserver and daemon) and an MLflow tracking server, both on PostgreSQL, on 127.0.0.1.

    make serve            (or: latent-listening serve)

Environment (every setting has a default for one machine):
  LATENT_DATABASE_URL   postgresql://user[:password]@host:port of the PostgreSQL server the team runs; its
                        databases ``dagster`` and ``mlflow`` are created when missing. Unset: a server is started
                        for local use in $LATENT_HOME/postgres (the machine's PostgreSQL binaries, port
                        $LATENT_PG_PORT, default 5433, 127.0.0.1 only, passwords required, the servers
                        connecting as a role that is not a superuser: scripts/local_postgres.py).
  DAGSTER_PORT          the Dagster UI (default 3000)
  MLFLOW_PORT           the MLflow UI and tracking API (default 5000)
  LATENT_ARTIFACTS      where the MLflow server keeps artifacts, served through it (default $LATENT_HOME/mlflow-artifacts)

The database URLs reach the servers through their environment (never a command line, a file, an MLflow param or
Dagster metadata): ``dagster.yaml`` names the variable, not the password. The daemon fires the schedules and
sensors whether or not anyone has the UI open; runs it launches log to the MLflow server. Ctrl-C (or SIGTERM)
stops all of them, and the local PostgreSQL with them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pipeline.io import PROJECT_ROOT, default_home
from scripts.local_postgres import PG_BIN, LocalPostgres, create_missing_databases  # noqa: F401 - PG_BIN: where the tests look for PostgreSQL

DAGSTER_DB_ENV = "LATENT_DAGSTER_DATABASE_URL"
INSTANCE_YAML = f"""# Written by scripts/serve.py: the team server's Dagster instance (runs, event log, schedules) in PostgreSQL.
storage:
  postgres:
    postgres_url:
      env: {DAGSTER_DB_ENV}
telemetry:
  enabled: false
"""


def redacted(url: str) -> str:
    """A database URL fit to print: the password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def database(url: str, name: str, driver: bool = True) -> str:
    """The URL of database ``name`` on the server at ``url``; with ``driver``, naming psycopg2 for SQLAlchemy (whose
    2.1 default for ``postgresql://`` is psycopg 3, which Dagster's PostgreSQL storage does not work with)."""
    parts = urlsplit(url)
    scheme = "postgresql+psycopg2" if driver else "postgresql"
    return urlunsplit(parts._replace(scheme=scheme, path=f"/{name}"))


def wait_for_port(port: int, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before listening on 127.0.0.1:{port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def ensure_databases(url: str, names=("dagster", "mlflow")) -> None:
    """Create the databases the servers need on the PostgreSQL server at ``url``, when missing."""
    import psycopg2

    connection = psycopg2.connect(database(url, "postgres", driver=False))
    connection.autocommit = True  # CREATE DATABASE runs outside a transaction
    try:
        with connection.cursor() as cursor:
            create_missing_databases(cursor, names)
    finally:
        connection.close()


class AnotherInstance(SystemExit):
    """The folder given as the team server's Dagster home holds another instance: refused, never overwritten."""


def refuse_another_instance(dagster_home: Path) -> None:
    """The team server writes its own ``dagster.yaml``; a home that holds another instance's (the local setup's
    SQLite one, whose runs and store it would orphan and whose folders its retention could sweep) is refused."""
    config, sqlite = dagster_home / "dagster.yaml", [p.name for p in (dagster_home / "history", dagster_home / "storage") if p.exists()]
    if (config.exists() and config.read_text() != INSTANCE_YAML) or sqlite:
        raise AnotherInstance(
            f"{dagster_home} holds another Dagster instance ({'its dagster.yaml is not the team server' + chr(39) + 's' if config.exists() else 'SQLite storage: ' + ', '.join(sqlite)}): "
            "the team server keeps its own, by default in $LATENT_HOME/dagster-team (make serve sets it). Unset DAGSTER_HOME, "
            "or point it at an empty folder.")


@dataclass
class TeamServer:
    """The three servers, started with ``start`` and stopped with ``stop``."""

    database_url: str
    dagster_home: Path
    artifacts: Path
    dagster_port: int = 3000
    mlflow_port: int = 5000
    workspace: Path = PROJECT_ROOT / "workspace.yaml"
    store: Path = Path()  # the stages' files of the team's runs (empty: <the Dagster home's folder>/store-team)

    def __post_init__(self) -> None:
        self.processes: dict[str, subprocess.Popen] = {}
        if self.store == Path():
            self.store = self.dagster_home.parent / "store-team"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def environment(self) -> dict[str, str]:
        """What every server and every run they launch sees: the instance, the tracking server, the database."""
        return {**os.environ, "DAGSTER_HOME": str(self.dagster_home), "MLFLOW_TRACKING_URI": self.mlflow_url,
                "LATENT_DATA_DIR": str(self.store),
                DAGSTER_DB_ENV: database(self.database_url, "dagster"), "MLFLOW_DISABLE_TELEMETRY": "true",
                "DAGSTER_DISABLE_TELEMETRY": "true"}

    def start(self, timeout: float = 120) -> None:
        refuse_another_instance(self.dagster_home)
        ensure_databases(self.database_url)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        bin_ = Path(sys.executable).parent
        workspace = str(self.workspace)
        env = self.environment()
        mlflow_env = {**env, "MLFLOW_BACKEND_STORE_URI": database(self.database_url, "mlflow"),
                      "MLFLOW_ARTIFACTS_DESTINATION": str(self.artifacts)}
        commands = {
            "mlflow": ([str(bin_ / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.mlflow_port), "--workers", "1",
                        "--serve-artifacts"], mlflow_env),
            "dagster-webserver": ([str(bin_ / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.dagster_port), "-w", workspace], env),
            "dagster-daemon": ([str(bin_ / "dagster-daemon"), "run", "-w", workspace], env),
        }
        try:
            for name, (argv, environment) in commands.items():
                self.processes[name] = subprocess.Popen(argv, env=environment, cwd=PROJECT_ROOT, start_new_session=True)
            wait_for_port(self.mlflow_port, timeout, "mlflow server", self.processes["mlflow"])
            wait_for_port(self.dagster_port, timeout, "dagster-webserver", self.processes["dagster-webserver"])
        except BaseException:
            self.stop()
            raise

    def stop(self, grace: float = 15) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def failed(self) -> str | None:
        """The name of a server that has exited, if one has."""
        return next((name for name, p in self.processes.items() if p.poll() is not None), None)


def main(argv: list[str] | None = None) -> int:
    home = default_home()
    local = None
    url = os.environ.get("LATENT_DATABASE_URL", "")
    if not url:
        local = LocalPostgres(home / "postgres", int(os.environ.get("LATENT_PG_PORT", "5433")))
        url = local.start()
    server = TeamServer(url, Path(os.environ.get("DAGSTER_HOME") or home / "dagster-team"),
                        Path(os.environ.get("LATENT_ARTIFACTS") or home / "mlflow-artifacts"),
                        int(os.environ.get("DAGSTER_PORT", "3000")), int(os.environ.get("MLFLOW_PORT", "5000")),
                        store=Path(os.environ.get("LATENT_TEAM_DATA_DIR") or home / "store-team"))
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        server.start()
        print(f"PostgreSQL: {redacted(url)}{' (local, in ' + str(local.root) + ')' if local else ''}\n"
              f"Dagster:    http://127.0.0.1:{server.dagster_port}  (daemon running: schedules and sensors fire)\n"
              f"MLflow:     {server.mlflow_url}  (artifacts in {server.artifacts})\nCtrl-C stops them.", flush=True)
        while not stopping and not server.failed():
            time.sleep(1)
        if server.failed():
            print(f"{server.failed()} exited; stopping the others", file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        if local:
            local.stop()


if __name__ == "__main__":
    raise SystemExit(main())
