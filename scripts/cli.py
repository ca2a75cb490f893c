"""``latent-listening``: the pipeline's commands (installed with the package).

    latent-listening run LOG [--format auto] [--cutoff auto] [--config overrides.yaml]   the whole pipeline on your log
    latent-listening plan LOG [--format auto] [--columns user_id=listener,...]            which split keeps how much of it
    latent-listening demo [--users N]                                                     the whole pipeline on the synthetic log
    latent-listening serve                                                                the team server (Dagster + MLflow on PostgreSQL)
    latent-listening status                                                               settle runs whose processes are gone; what runs there are
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"run": "scripts.run", "plan": "scripts.plan", "demo": "scripts.demo", "serve": "scripts.serve", "status": "scripts.status"}
    if not argv or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    module = __import__(commands[argv[0]], fromlist=["main"])
    return module.main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
