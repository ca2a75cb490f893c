"""The environment packed for Spark's executors (pipeline.engines.spark_env): what goes in and what stays out, and one
archive per environment, built once. test_spark_engine.py runs a cluster whose workers have nothing else."""

import tarfile

import pytest

pytest.importorskip("pyspark")

from pipeline.engines import spark_env  # noqa: E402


def test_the_archive_holds_the_interpreter_the_stages_libraries_and_the_project_not_sparks_jars():
    dists = spark_env.shipped_distributions()
    names = {name for _, name in spark_env._members(dists)}
    site = f"lib/python{spark_env.VERSION}/site-packages"
    assert f"bin/python{spark_env.VERSION}" in names and f"lib/python{spark_env.VERSION}/os.py" in names
    for needed in ("numpy/__init__.py", "polars/__init__.py", "pyarrow/__init__.py", "numba/__init__.py",
                   "pyspark/__init__.py", "pipeline/engines/spark.py", "pipeline/network/walks.py"):
        assert f"{site}/{needed}" in names, needed
    shipped = {d.metadata["Name"].lower() for d in dists}
    assert not shipped & {"dagster", "mlflow", "playwright", "pytest", "latent-listening"}  # the executors never load them
    assert not any(n.startswith((f"{site}/pyspark/jars/", f"lib/python{spark_env.VERSION}/test/")) or "__pycache__" in n
                   for n in names)


def test_one_archive_per_environment_built_once_and_the_older_removed(tmp_path, monkeypatch):
    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    monkeypatch.setattr(spark_env, "shipped_distributions", lambda: [])
    monkeypatch.setattr(spark_env, "_members", lambda dists: iter([(source, "lib/module.py")]))
    monkeypatch.setattr(spark_env, "environment_digest", lambda: "aaaa")
    said = []
    first = spark_env.packed_environment(tmp_path / "envs", said.append)
    built = first.stat().st_mtime_ns
    assert first.name == "latent_env-aaaa.tar.gz" and len(said) == 1 and "packed this environment" in said[0]
    assert spark_env.packed_environment(tmp_path / "envs", said.append) == first and first.stat().st_mtime_ns == built
    assert len(said) == 1  # reused, not packed again
    with tarfile.open(first) as tar:
        launcher = tar.getmember("bin/python")
        assert launcher.mode == 0o755 and b'exec "$here/python' in tar.extractfile(launcher).read()
        assert tar.extractfile("lib/module.py").read() == b"x = 1\n"
    monkeypatch.setattr(spark_env, "environment_digest", lambda: "bbbb")  # a library or the project's code changed
    second = spark_env.packed_environment(tmp_path / "envs")
    assert second.name == "latent_env-bbbb.tar.gz" and not first.exists()
    assert sorted(p.name for p in (tmp_path / "envs").glob("*.tar.gz")) == [second.name]


def test_the_digest_follows_the_projects_source(tmp_path, monkeypatch):
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "stage.py").write_text("a = 1\n")
    monkeypatch.setattr(spark_env, "PROJECT", tmp_path)
    before = spark_env.environment_digest()
    assert spark_env.environment_digest() == before
    (tmp_path / "pipeline" / "stage.py").write_text("a = 2\n")
    assert spark_env.environment_digest() != before


def test_the_shipped_python_runs_from_the_folder_spark_unpacks_into():
    conf = spark_env.shipping_conf("/x/latent_env-aaaa.tar.gz")
    assert conf["spark.archives"] == "file:///x/latent_env-aaaa.tar.gz#latent_env"
    assert conf["spark.pyspark.python"] == "./latent_env/bin/python"
