"""The pipeline's console logger: Dagster's console lines, with stack traces and skipped-step notices left to the
run's event log when ``traces`` is off (``latent-listening run`` and ``make demo`` without ``--verbose``).

It replaces Dagster's default ``console`` logger for this code location; its defaults (DEBUG, traces on) print what
Dagster's would, so runs launched from the UI, a schedule or a sensor log as before.
"""

from __future__ import annotations

import logging
import sys

import dagster as dg

FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
TRACE = "\nStack Trace:"
SKIPPED = "Not executing."  # Dagster's line for each step after a failed one


class _Concise(logging.Filter):
    """Drop a failure's stack trace (the first line of its error stays) and the notices of steps not run."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.rstrip().endswith(SKIPPED):
            return False
        if TRACE in message:
            record.msg, record.args = message.split(TRACE, 1)[0].rstrip(), ()
        return True


@dg.logger(
    {"log_level": dg.Field(str, default_value="DEBUG", description="the lowest level printed"),
     "traces": dg.Field(bool, default_value=True, description="print failures' stack traces (they are in the run's event log either way)")},
    description="Dagster's console lines; with traces off, a failure is its message without the stack trace.",
)
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.Logger("dagster", level=init_context.logger_config["log_level"].upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    if not init_context.logger_config["traces"]:
        handler.addFilter(_Concise())
    log.addHandler(handler)
    return log


def console_config(verbose: bool) -> dict:
    """The run config of the console logger: everything (``verbose``), or INFO and up without stack traces."""
    return {"console": {"config": {"log_level": "DEBUG", "traces": True} if verbose else {"log_level": "INFO", "traces": False}}}
