"""A PostgreSQL server for the team server's local use: password (SCRAM-SHA-256) authentication only, on 127.0.0.1,
with the servers connecting as a role that is not a superuser.

Two roles: ``latent_admin``, the cluster's superuser, used only here to create the application role and its databases;
``latent``, which owns the databases ``dagster`` and ``mlflow`` and can do nothing else (no superuser, no new roles or
databases). Each role's password is drawn at random when the cluster is created and kept in a file only its owner can
read (``<root>/admin.password``, ``<root>/latent.password``). A cluster an earlier version created with trust
authentication (its superuser ``latent``) is converted in place as it starts: its data are kept.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PG_BIN = Path(os.environ.get("LATENT_PG_BIN", "/usr/lib/postgresql/15/bin"))
ADMIN, APP = "latent_admin", "latent"
DATABASES = ("dagster", "mlflow")
HBA = """# Written by scripts/local_postgres.py: password (SCRAM-SHA-256) authentication only, 127.0.0.1 and the socket.
local   all   all                 scram-sha-256
host    all   all   127.0.0.1/32  scram-sha-256
host    all   all   ::1/128       scram-sha-256
"""


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in ``root`` (its data in ``root/data``), listening on 127.0.0.1:``port`` only. PostgreSQL
    refuses to run as root; as root, it runs as the system user ``postgres`` (Debian's package creates it)."""

    root: Path
    port: int = 5433

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        """The application role's URL, password included (pass it through the environment, print it ``redacted``)."""
        return f"postgresql://{APP}:{quote(self._password(APP), safe='')}@127.0.0.1:{self.port}"

    def _password(self, role: str, create: bool = False) -> str:
        path = self.root / f"{'admin' if role == ADMIN else role}.password"
        if create and not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24))
            if os.geteuid() == 0:
                shutil.chown(path, "postgres")  # initdb (run as postgres) reads the superuser's
        if not path.exists():
            raise RuntimeError(f"{path} is missing: the password of the local PostgreSQL's role {role!r}. Restore it, or "
                               f"remove {self.root} to start over (its runs and experiments are lost)")
        return path.read_text().strip()

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        cmd = [str(PG_BIN / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True)

    def _hba(self) -> Path:
        return self.data / "pg_hba.conf"

    def start(self) -> str:
        """Start the cluster (created on first use); returns the application role's URL."""
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"no PostgreSQL server binaries in {PG_BIN}: install Debian's postgresql package "
                               "(apt-get install postgresql), set LATENT_PG_BIN, or point LATENT_DATABASE_URL at a server")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700 if os.geteuid() != 0 else 0o750)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        if not (self.data / "PG_VERSION").exists():
            pwfile = self.root / "admin.password"
            self._password(ADMIN, create=True)
            self._run("initdb", "-D", str(self.data), "-U", ADMIN, f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8")
            self._hba().write_text(HBA)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-o",
                  f"-p {self.port} -h 127.0.0.1 -k {self.root}", "start")
        if trusting(self._hba().read_text()):
            self._convert_from_trust()
        self._ensure_application_role()
        return self.url

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _connect(self, role: str, password: str | None = None, dbname: str = "postgres"):
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=role, dbname=dbname,
                                      password=password if password is not None else self._password(role))
        connection.autocommit = True  # CREATE DATABASE runs outside a transaction
        return connection

    def _convert_from_trust(self) -> None:
        """A cluster created with trust authentication and the application role as its superuser: give it a password-
        protected superuser, make the application role an ordinary one, then require passwords."""
        old = self._connect(APP, password="")  # trust: any password
        try:
            with old.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ADMIN,))
                verb = "ALTER" if cursor.fetchone() else "CREATE"
                cursor.execute(f"{verb} ROLE {ADMIN} SUPERUSER LOGIN PASSWORD %s", (self._password(ADMIN, create=True),))
        finally:
            old.close()
        admin = self._connect(ADMIN)
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"ALTER ROLE {APP} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
        finally:
            admin.close()
        self._hba().write_text(HBA)
        self._run("pg_ctl", "-D", str(self.data), "reload")

    def _ensure_application_role(self) -> None:
        admin = self._connect(ADMIN)
        try:
            with admin.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP,))
                verb = "ALTER" if cursor.fetchone() else "CREATE"
                cursor.execute(f"{verb} ROLE {APP} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s",
                               (self._password(APP, create=True),))
                create_missing_databases(cursor, DATABASES, owner=APP)
        finally:
            admin.close()


def create_missing_databases(cursor, names, owner: str | None = None) -> None:
    """Create each database of ``names`` the server lacks (owned by ``owner``, else by the connected role)."""
    for name in names:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"' + (f" OWNER {owner}" if owner else ""))


def trusting(hba: str) -> bool:
    """Whether a ``pg_hba.conf`` lets anyone in without a password on some line."""
    return any(re.search(r"\btrust\s*$", line) for line in hba.splitlines() if not line.lstrip().startswith("#"))
