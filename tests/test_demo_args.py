"""The commands' shared options (scripts.demo): --trainer reaches every embedding's config, over what the config says."""

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
