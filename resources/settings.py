"""Run-wide settings every stage shares."""


import dagster as dg

from pipeline import defaults


class PipelineSettings(dg.ConfigurableResource):
    """``seed`` fixes the data, the splits, the walks, the training and the metrics.

    ``workers``: skip-gram training threads. The default, 1, makes the vectors and so the metrics
    bit-identical from run to run (gensim's threads interleave their updates); Dagster's
    multiprocess executor still trains the three embeddings side by side. 0 takes all cores:
    faster for one big model (paper scale), reproducible only within a small tolerance.
    """

    seed: int = defaults.SEED
    workers: int = 1
