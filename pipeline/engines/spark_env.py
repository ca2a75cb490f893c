"""This machine's Python environment packed for Spark's executors, so that a worker needs only Java and Spark.

``packed_environment`` writes one archive holding this interpreter (its binary, its shared library and its standard
library), the installed distributions the Spark stages import (found by importing them in a fresh interpreter; their
files as the installer recorded them; Spark's jars left out: the worker runs its own Spark) and the project's
``pipeline`` package. Spark unpacks it in each executor's working folder (``spark.archives``: ``<archive>#latent_env``)
and starts the stages' Python there (``./latent_env/bin/python``, a launcher that points the loader at the packed
shared library).

The archive is named by a digest of what it packs (the interpreter, every installed distribution's name and version,
the project's source), so it is built once and reused by every stage and run until one of those changes; the older
archives are removed. The worker's own system libraries are used (the C library, and those an extension module links
against, such as libstdc++): workers run the same operating system family and architecture as the machine that packs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import io
import subprocess
import sys
import sysconfig
import tarfile
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock

ALIAS = "latent_env"  # the folder Spark unpacks the archive into, in each executor's working folder
PYTHON = f"./{ALIAS}/bin/python"  # the executors' Python (spark.pyspark.python), relative to that folder
# What the executors import: the Spark stages (and through them the pipeline's science), and the libraries Spark's
# Arrow-based Python functions load by name.
ENTRY_MODULES = ("pipeline.engines.spark", "pandas", "pyarrow", "pyspark.sql.pandas.utils")
# Parts of a shipped distribution no executor loads (Spark's jars and scripts: the worker runs its own Spark).
LEFT_OUT = ("pyspark/jars/", "pyspark/bin/", "pyspark/sbin/", "pyspark/examples/", "pyspark/data/", "pyspark/licenses/")
# Standard-library folders no stage uses (tests, the Tk GUI, the IDE, pip's bootstrap, the static library).
STDLIB_LEFT_OUT = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3"}
PROJECT = Path(__file__).resolve().parents[2]
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
LAUNCHER = f"""#!/bin/sh
# The packed interpreter, its shared library found beside it (its own search path names the machine that packed it).
here=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$here/../lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" exec "$here/python{VERSION}" "$@"
"""
_CLOSURE = """
import importlib, importlib.metadata as md, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
found = md.packages_distributions()
print("\\n".join(sorted({d for name in list(sys.modules) for d in found.get(name.split(".")[0], ())})))
"""


def shipped_distributions(modules: tuple[str, ...] = ENTRY_MODULES) -> list[metadata.Distribution]:
    """The installed distributions that importing ``modules`` loads, found in a fresh interpreter (a Dagster step has
    Dagster, MLflow and more loaded, which no executor needs). The project itself is packed from its source."""
    names = subprocess.run([sys.executable, "-c", _CLOSURE, *modules], capture_output=True, text=True, check=True,
                           cwd=PROJECT).stdout.split()
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["name"]
    return [metadata.distribution(name) for name in names if _canonical(name) != _canonical(project)]


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def interpreter() -> tuple[Path, Path | None, Path]:
    """This interpreter's binary, its shared library (None when it is linked statically) and its standard library."""
    binary = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    library = None
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        found = Path(sysconfig.get_config_var("LIBDIR")) / sysconfig.get_config_var("INSTSONAME")
        library = found if found.exists() else None
    return binary, library, Path(sysconfig.get_paths()["stdlib"])


def _project_files() -> list[Path]:
    return sorted(p for p in (PROJECT / "pipeline").rglob("*.py"))


def environment_digest() -> str:
    """A digest of what an archive would pack: the interpreter, every installed distribution and the project's source
    (cheap: no import, no subprocess)."""
    digest = hashlib.sha256(f"{sys.version} {interpreter()[0]}".encode())
    for dist in sorted(metadata.distributions(), key=lambda d: str(d.metadata["Name"]).lower()):
        digest.update(f"{dist.metadata['Name']}=={dist.version};".encode())
    for path in _project_files():
        digest.update(str(path.relative_to(PROJECT)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _members(dists: list[metadata.Distribution]) -> Iterator[tuple[Path, str]]:
    """(file, name in the archive) for everything packed but the launcher."""
    binary, library, stdlib = interpreter()
    yield binary, f"bin/python{VERSION}"
    if library is not None:
        yield library, f"lib/{library.name}"
    for path in sorted(stdlib.rglob("*")):
        rel = path.relative_to(stdlib)
        if path.is_file() and rel.parts[0] not in STDLIB_LEFT_OUT and not rel.parts[0].startswith("config-") \
                and "__pycache__" not in rel.parts:
            yield path, f"lib/python{VERSION}/{rel}"
    site = f"lib/python{VERSION}/site-packages"
    for dist in dists:
        for file in dist.files or ():
            rel = str(file)
            if rel.startswith("..") or rel.startswith(LEFT_OUT) or "__pycache__" in rel:
                continue
            path = Path(file.locate())
            if path.is_file():
                yield path, f"{site}/{rel}"
    for path in _project_files():
        yield path, f"{site}/{path.relative_to(PROJECT)}"


def packed_environment(folder: Path | str, log: Callable[[str], None] | None = None) -> Path:
    """The archive of this environment for Spark's executors, in ``folder``: the one already packed for this digest,
    else packed now (the older ones removed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{ALIAS}-{environment_digest()}.tar.gz"
    if archive.exists():
        return archive
    with FileLock(folder / ".lock"):  # stages that start side by side: one packs, the others wait and reuse it
        if archive.exists():
            return archive
        t0 = time.perf_counter()
        dists = shipped_distributions()
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            for path, name in _members(dists):
                tar.add(path, arcname=name, recursive=False)
            info = tarfile.TarInfo("bin/python")
            info.size, info.mode, info.mtime = len(LAUNCHER.encode()), 0o755, int(time.time())
            tar.addfile(info, io.BytesIO(LAUNCHER.encode()))
        partial.replace(archive)
        for old in folder.glob(f"{ALIAS}-*.tar.gz"):
            if old != archive:
                old.unlink()
        if log:
            log(f"packed this environment for Spark's executors ({len(dists)} distributions, the interpreter, the "
                f"project): {archive} ({archive.stat().st_size / 1e6:.0f} MB, {time.perf_counter() - t0:.0f} s)")
    return archive


def shipping_conf(archive: Path | str) -> dict[str, str]:
    """The Spark settings that ship ``archive`` to the executors and run their Python from it (the driver keeps this
    interpreter). A driver started in this process reads the executors' Python from ``PYSPARK_PYTHON`` instead: set it
    to ``PYTHON``."""
    return {"spark.archives": f"{Path(archive).resolve().as_uri()}#{ALIAS}", "spark.pyspark.python": PYTHON,
            "spark.pyspark.driver.python": sys.executable}
