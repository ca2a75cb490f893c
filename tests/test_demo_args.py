"""The demo command (scripts.demo): its shared options (--trainer reaches every embedding's config, over what the config
says) and the run's whole log written to a file."""

import argparse

from scripts.demo import add_engine_arguments, with_engine


def test_trainer_reaches_every_embedding_and_keeps_the_rest_of_its_config():
    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    args = parser.parse_args(["--trainer", "numba"])
    config = with_engine({"ops": {"embedding_uss": {"config": {"dimensions": 8, "trainer": "gensim"}}}}, args)
    assert config["ops"] == {"embedding_uss": {"config": {"dimensions": 8, "trainer": "numba"}},
                             "embedding_uss_2d": {"config": {"trainer": "numba"}},
                             "embedding_us": {"config": {"trainer": "numba"}}}
    assert with_engine({}, parser.parse_args([])) == {}  # without it, the config is left alone


def test_engine_and_master_reach_the_engine_resource_and_its_spark_settings():
    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    config = with_engine({}, parser.parse_args(["--engine", "spark", "--spark-master", "spark://10.0.0.5:7077"]))
    assert config == {"resources": {"engine": {"config": {"engine": "spark", "spark": {"master": "spark://10.0.0.5:7077"}}}}}


def test_the_runs_whole_log_is_written_to_a_file_debug_lines_included(tmp_path):
    import dagster as dg

    from scripts.demo import write_run_log

    @dg.asset
    def speaks(context: dg.AssetExecutionContext) -> None:
        context.log.info("a line of my own")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([speaks], instance=instance)
    path = write_run_log(instance, result.run_id, tmp_path)
    lines = path.read_text().splitlines()
    assert path == tmp_path / f"{result.run_id}.log"
    assert any(" INFO speaks LOG: a line of my own" in line for line in lines)
    assert any(" DEBUG speaks STEP_START: " in line for line in lines)  # the debug events the console leaves out
    assert len(lines) == len(instance.all_logs(result.run_id))
