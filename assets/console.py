"""The pipeline's console logger: Dagster's console lines; when ``traces`` is off (``latent-listening run`` and
``make demo`` without ``--verbose``), concise ones: ``time stage: message``, progress at most every 20 s a stage,
stack traces and skipped-step notices left to the run's event log.

It replaces Dagster's default ``console`` logger for this code location; its defaults (DEBUG, traces on) print what
Dagster's would, so runs launched from the UI, a schedule or a sensor log as before.
"""

from __future__ import annotations

import logging
import sys

import dagster as dg

from pipeline.embedding.skipgram import GENSIM

FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
CONCISE = "%(asctime)s %(message)s"  # without traces: "12:03:44 walks_uss: walks: pass 3/20 written, ..."
TRACE = "\nStack Trace:"
SKIPPED = "Not executing."  # Dagster's line for each step after a failed one


PROGRESS = ("ETA ", GENSIM)  # in every progress line of a long stage (walks, training, tuning, metrics, the import)
PROGRESS_EVERY = 20.0  # seconds between two progress lines of one stage on a concise console
GENSIM_EVERY = 60.0  # gensim's own lines within a shard: only when the stage has said nothing for this long


class _Concise(logging.Filter):
    """Drop a failure's stack trace (the first line of its error stays) and the notices of steps not run; print each
    line as ``stage: message`` (the run's id and the job's name are the same on every line), and a stage's progress
    lines at most every ``PROGRESS_EVERY`` seconds (the first always), and gensim's within-shard lines only when the
    stage has printed nothing for ``GENSIM_EVERY`` seconds (a long shard at scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.last_progress: dict[str, float] = {}
        self.last_line: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None) or {}
        message = meta.get("orig_message") or record.getMessage()
        if message.rstrip().endswith(SKIPPED):
            return False
        if TRACE in message:
            message = message.split(TRACE, 1)[0].rstrip()
        where = meta.get("step_key") or meta.get("job_name") or ""
        if any(marker in message for marker in PROGRESS) and record.levelno < logging.WARNING:
            if GENSIM in message:
                since = max(self.last_progress.get(where, float("-inf")), self.last_line.get(where, record.created))
                if record.created - since < GENSIM_EVERY:
                    return False
            elif record.created - self.last_progress.get(where, float("-inf")) < PROGRESS_EVERY:
                return False
            self.last_progress[where] = record.created
        self.last_line[where] = record.created
        record.msg, record.args = (f"{where}: {message}" if where and not message.startswith(f"{where}:") else message), ()
        return True


@dg.logger(
    {"log_level": dg.Field(str, default_value="DEBUG", description="the lowest level printed"),
     "traces": dg.Field(bool, default_value=True, description="print failures' stack traces (they are in the run's event log either way)")},
    description="Dagster's console lines; with traces off, a failure is its message without the stack trace.",
)
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.Logger("dagster", level=init_context.logger_config["log_level"].upper())
    handler = logging.StreamHandler(sys.stderr)
    if init_context.logger_config["traces"]:
        handler.setFormatter(logging.Formatter(FORMAT))
    else:
        handler.setFormatter(logging.Formatter(CONCISE, datefmt="%H:%M:%S"))
        handler.addFilter(_Concise())
    log.addHandler(handler)
    return log


def console_config(verbose: bool) -> dict:
    """The run config of the console logger: everything (``verbose``), or INFO and up without stack traces."""
    return {"console": {"config": {"log_level": "DEBUG", "traces": True} if verbose else {"log_level": "INFO", "traces": False}}}
