"""Where listening events come from: the seeded synthetic log, or a real log in a known format."""

import functools
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from pipeline import defaults
from pipeline.contract import QUARANTINE_SCHEMA, StageFiles
from pipeline.engines.local import LOCAL
from pipeline.ingest.importers import FORMATS, resolve_files
from pipeline.ingest.pseudonyms import salt_fingerprint, salt_from
from pipeline.ingest.synthetic import SyntheticConfig, generate
from pipeline.io import write_json
from resources.params import model_from, params_of

SYNTHETIC = "synthetic"


class _Source(dg.ConfigurableResource):
    format: str = SYNTHETIC
    path: str = ""
    # the name of the environment variable that holds the salt (never the salt: config is stored in Dagster's run storage)
    pseudonymise_salt_env: str = ""
    # a canonical file's column names, where they are not the canonical ones or their usual aliases: {user_id: listener, ...}
    columns: dict[str, str] = {}
    # the plausibility window of a real log's timestamps (pipeline.ingest.field_rules): from this date to this many days after the import
    earliest: str = "2000-01-01"
    days_after_import: float = 1.0
    # the Unicode normal form every text value is put in: NFC (the same title typed in NFD is the same song), NFKC, or "" (as written)
    text_form: str = "NFC"

    def synthetic_config(self, seed: int) -> SyntheticConfig:
        return params_of(self, SyntheticConfig, seed=seed)

    def files(self) -> list[Path]:
        """The input files of a real log (none for the synthetic one)."""
        return [] if self.format == SYNTHETIC else resolve_files(self.path)

    def salt_fingerprint(self) -> str | None:
        """What is recorded of the salt (None: no pseudonymisation); refuses a named variable that is not set."""
        return salt_fingerprint(salt_from(self.pseudonymise_salt_env)) if self.pseudonymise_salt_env else None

    def import_params(self) -> dict:
        """The params of the import stage (``pipeline.engines.local.raw_events``), its window's "now" fixed here. The salt
        travels as the name of its environment variable, read where the import runs."""
        return {"path": self.path, "format": self.format, "salt_env": self.pseudonymise_salt_env, "columns": dict(self.columns),
                "earliest": self.earliest, "days_after_import": self.days_after_import, "text_form": self.text_form,
                "now": datetime.now(timezone.utc).isoformat()}

    def write_events(self, files: StageFiles, seed: int = defaults.SEED, log=None,
                     run_import: Callable[..., dict] | None = None) -> dict:
        """Write the events (canonical), the quarantine and the summary of ``raw_events``; return the counts.

        A real log is imported by ``run_import(**params)`` (an engine's import stage; default: this machine's).
        The counts reconcile: read = accepted + quarantined.
        """
        quarantine = files["quarantine"]
        if self.format == SYNTHETIC:
            summary = generate(self.synthetic_config(seed), files, log=log)
            pl.DataFrame(schema=QUARANTINE_SCHEMA).write_parquet(quarantine)
            result = {"source": SYNTHETIC, "seed": seed, "read": summary["events"], "accepted": summary["events"],
                      "quarantined": 0, "reasons": {}, "has_device": True, **summary}
        elif self.format in (*FORMATS, "auto"):
            fingerprint = self.salt_fingerprint()
            run_import = run_import or functools.partial(LOCAL["raw_events"], {}, files, log)
            report = run_import(**self.import_params())
            result = {"source": self.format, "path": self.path, "pseudonymised": fingerprint is not None,
                      "salt_fingerprint": fingerprint, **report}
        else:
            raise ValueError(f"unknown listening-log format {self.format!r}; supported: {SYNTHETIC}, {', '.join(FORMATS)}, auto")
        write_json(files["summary"], result)
        return result


# The synthetic log's settings are SyntheticConfig's fields (its seed is the run-wide one).
ListeningLogSource = model_from(
    "ListeningLogSource", _Source, SyntheticConfig,
    """The listening log.

    ``format``: ``synthetic`` (default: a seeded log of the configured size and shape, the fields of
    ``pipeline.ingest.synthetic.SyntheticConfig``), or a real log at ``path`` (a file, a folder or a glob) in one of
    ``canonical``, ``lastfm-1k``, ``spotify``, ``listenbrainz``, or ``auto`` (told by the file names; refuses
    to guess when unsure). ``pseudonymise_salt_env``: the name of an environment variable holding a salt; when set,
    user ids are replaced by a salted hash, no quarantine row or reason quotes a raw value, and only a fingerprint of
    the salt is recorded.
    """,
    __name__, exclude=("seed", "users_per_block"),
)
