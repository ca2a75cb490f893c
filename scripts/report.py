"""Print Table 1, the metrics tables and the figures' paths of the latest materializations.

Run: ``.venv/bin/python -m scripts.report`` (the Dagster instance of ``$DAGSTER_HOME``).
"""

import sys

import dagster as dg

from assets import stage_io
from pipeline.analysis.report import render


def main() -> int:
    try:
        print(render(stage_io.latest(dg.DagsterInstance.get())))
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
