"""Where the pipeline's files live.

Large artefacts (events, graphs, walk corpora, embeddings) are files under one folder; assets pass
paths to each other, never pickled arrays through an IO manager. Each materialization has a folder
of its own (see ``assets.stage_io`` and ``pipeline.contract``).
"""


from pathlib import Path

import dagster as dg

from pipeline.io import default_data_dir


class DataStore(dg.ConfigurableResource):
    """A folder for every stage's materializations (default ``$LATENT_DATA_DIR`` or ``<project>/.data/store``).

    ``keep_materializations``: how many of each stage's newest materializations stay on disk (at
    least 1); older ones are removed when the stage materializes again, unless a run still in
    progress made them. The store belongs to one Dagster instance, which records what exists.
    """

    base_dir: str = ""
    keep_materializations: int = 2
    min_free_gb: float = 0.5  # a stage refuses to start with less free space where it writes (a clear message, not a half-written file)

    def root(self) -> Path:
        return Path(self.base_dir).resolve() if self.base_dir else default_data_dir()
