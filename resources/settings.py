"""Run-wide settings every stage shares."""


import dagster as dg

from pipeline import defaults


class PipelineSettings(dg.ConfigurableResource):
    """``seed`` fixes the data, the splits, the walks, the training and the metrics.

    ``workers``: threads for walks, skip-gram and ALS (0: all cores). With ``workers=1`` the
    skip-gram vectors, and so the metrics, are bit-identical from run to run; with more, gensim's
    threads interleave updates and results vary slightly.
    """

    seed: int = defaults.SEED
    workers: int = 0
