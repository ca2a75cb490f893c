"""Where the pipeline's files live.

Large artefacts (events, graphs, walk corpora, embeddings) are files under one folder; assets pass
paths to each other, never pickled arrays through an IO manager.
"""


from pathlib import Path

import dagster as dg

from pipeline.io import default_data_dir


class DataStore(dg.ConfigurableResource):
    """A folder for every stage's output (default ``$LATENT_DATA_DIR`` or ``<project>/.data/store``)."""

    base_dir: str = ""

    def root(self) -> Path:
        return Path(self.base_dir).resolve() if self.base_dir else default_data_dir()

    def stage_dir(self, stage: str) -> Path:
        path = self.root() / stage
        path.mkdir(parents=True, exist_ok=True)
        return path
