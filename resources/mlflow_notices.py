"""MLflow's log lines that say nothing to this project's users, and a way to leave them out."""

from __future__ import annotations

import logging
from contextlib import contextmanager

# MLflow's notices on logging a model about what is done here on purpose (a pickled PythonModel; the input example
# checked against the signature): left out of the step's log.
KNOWN_NOTICES = ("serialized using CloudPickle", "Validating input example")


@contextmanager
def without(notices: tuple[str, ...]):
    """While inside, MLflow's pyfunc log lines that contain one of ``notices`` are dropped."""
    logger = logging.getLogger("mlflow.pyfunc")

    def keep(record: logging.LogRecord) -> bool:
        return not any(n in record.getMessage() for n in notices)

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)
