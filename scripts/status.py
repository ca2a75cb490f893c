"""``latent-listening status`` (``make status``): settle runs left behind, then say what the local instance holds.

Runs whose processes are gone are marked FAILED in Dagster and in MLflow, and MLflow runs still RUNNING after their
Dagster run ended are ended (``assets.reconcile``); then the count of runs by status and any still in progress.
"""

from __future__ import annotations

import argparse
from collections import Counter


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    import dagster as dg

    from assets.instance import local_instance
    from assets.reconcile import NOT_ENDED, reconcile
    from resources import MlflowTracking
    from scripts.demo import say_reconciled

    instance = local_instance()
    done = reconcile(instance, MlflowTracking())
    say_reconciled(done)
    if not any(done.values()):
        print("Nothing to settle: every run not ended has a live process, and MLflow agrees with Dagster on every ended run.")
    runs = instance.get_runs()
    counts = Counter(run.status.value for run in runs)
    print(f"Dagster home {instance.root_directory}: {len(runs)} runs" + (": " + ", ".join(f"{n} {s}" for s, n in counts.most_common()) if runs else ""))
    for run in instance.get_runs(dg.RunsFilter(statuses=list(NOT_ENDED))):
        print(f"  in progress: {run.run_id} ({run.status.value}, {run.job_name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
