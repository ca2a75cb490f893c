"""The team server's local PostgreSQL (scripts/local_postgres.py), real: passwords required on TCP and the socket,
the servers' role no superuser and owner of its two databases, and a cluster an earlier version created with trust
authentication converted in place, its data kept."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from scripts.local_postgres import ADMIN, APP, HBA, PG_BIN, LocalPostgres, trusting

pytestmark = pytest.mark.skipif(not (PG_BIN / "initdb").exists() and not os.environ.get("CI"),
                                reason="no PostgreSQL server binaries: apt-get install postgresql")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def root():
    # PostgreSQL runs as its own user (when the tests run as root), which cannot enter pytest's private folders
    parent = Path(tempfile.mkdtemp(prefix="latent-pg-"))
    parent.chmod(0o755)
    yield parent / "postgres"
    shutil.rmtree(parent, ignore_errors=True)


def refused(port: int, user: str, password: str | None) -> str:
    import psycopg2

    with pytest.raises(psycopg2.OperationalError) as error:
        psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="postgres", password=password)
    return str(error.value)


def test_trust_lines_are_told_from_password_lines():
    assert not trusting(HBA)
    assert trusting("# comment trust\nhost all all 127.0.0.1/32 trust\n")
    assert not trusting("# host all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n")


def test_a_new_cluster_wants_passwords_and_its_servers_role_is_no_superuser(root):
    postgres = LocalPostgres(root, free_port())
    url = postgres.start()
    try:
        assert url.startswith(f"postgresql://{APP}:") and url.endswith(f"@127.0.0.1:{postgres.port}")
        for user in (APP, ADMIN, "postgres"):
            assert "password" in refused(postgres.port, user, None)  # no password: no entry, whoever one claims to be
        assert "password authentication failed" in refused(postgres.port, APP, "guess")
        for name in ("admin.password", "latent.password"):
            assert (root / name).stat().st_mode & 0o077 == 0  # only its owner reads it
        app = postgres._connect(APP)
        with app.cursor() as cursor:
            cursor.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
            assert cursor.fetchone() == (False, False, False)
            cursor.execute("SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s ORDER BY datname", (APP,))
            assert [r[0] for r in cursor.fetchall()] == ["dagster", "mlflow"]
        app.close()
        mine = postgres._connect(APP, dbname="dagster")  # the servers create their tables in their own databases
        with mine.cursor() as cursor:
            cursor.execute("CREATE TABLE probe (x int)")
        mine.close()
    finally:
        postgres.stop()
    assert postgres.start() == url  # a restart keeps the passwords
    postgres.stop()
    (root / "latent.password").unlink()  # rotation: a new password is drawn as it starts, the old one refused
    rotated = postgres.start()
    try:
        assert rotated != url
        assert "password authentication failed" in refused(postgres.port, APP, unquote(urlsplit(url).password))
        postgres._connect(APP).close()
    finally:
        postgres.stop()


def test_a_trust_cluster_from_an_earlier_version_is_converted_keeping_its_data(root):
    port = free_port()
    root.mkdir(parents=True)
    data = root / "data"
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    # what the earlier version did: the application role as the superuser, trust on 127.0.0.1, and a run recorded
    subprocess.run([*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-U", APP, "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-o", f"-p {port} -h 127.0.0.1 -k {root}", "-l",
                    str(root / "server.log"), "start"], check=True, capture_output=True)
    import psycopg2

    old = psycopg2.connect(host="127.0.0.1", port=port, user=APP, dbname="postgres")
    old.autocommit = True
    with old.cursor() as cursor:
        cursor.execute('CREATE DATABASE "dagster"')
    old.close()
    old = psycopg2.connect(host="127.0.0.1", port=port, user=APP, dbname="dagster")
    old.autocommit = True
    with old.cursor() as cursor:
        cursor.execute("CREATE TABLE runs (run_id text); INSERT INTO runs VALUES ('an-old-run')")
    old.close()
    subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], check=True, capture_output=True)

    postgres = LocalPostgres(root, port)
    postgres.start()
    try:
        assert "password" in refused(port, APP, None)  # trust is gone
        assert not trusting((data / "pg_hba.conf").read_text())
        kept = postgres._connect(APP, dbname="dagster")
        with kept.cursor() as cursor:
            cursor.execute("SELECT run_id FROM runs")
            assert cursor.fetchall() == [("an-old-run",)]
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cursor.fetchone() == (False,)
        kept.close()
    finally:
        postgres.stop()
