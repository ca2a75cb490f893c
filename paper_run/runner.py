"""Run the whole pipeline at the paper's scale (Table 1) in bounded steps: rerun until it says done.

``make paper`` runs as many stages as fit in one step (``--hours``, default 1.5) and exits: 0 when
every stage is done, 3 when it should be run again. Each stage is its own Dagster run in a fresh
process, so the instance under ``<home>/dagster`` (``make ui`` with the same home) shows them all and
each stage's peak memory is measured alone. Skip-gram training checkpoints after every walk shard;
a step ends training before a shard that would overrun its time budget (at the rate measured so far),
and the next step resumes from the last checkpoint. A step
killed midway (machine restart, session end) loses at most the current shard or stage: rerunning
redoes it, as every file is written under a temporary name and renamed when complete.

The ledger ``<home>/paper-run.json`` records each stage's wall time (summed over attempts), peak
RSS, attempts and interruptions; ``python -m scripts.paper status`` prints it as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from assets.deepwalk import PAUSED_KEY
from assets.instance import local_instance
from paper_run.ledger import Ledger
from paper_run.report import disk_usage, status_table, training_summary, training_times
from paper_run.stages import NOT_ENDED, PAUSED, ROOT, RUN_ORDER, STAGE_TAG, TRAINING, instance_of, set_home
from pipeline.embedding.trainers import RESUMABLE
from resources import MlflowTracking


def run_config(stage: str, args: argparse.Namespace, max_train_seconds: float) -> dict:
    source = {"n_users": args.users, "n_songs": args.songs, "n_artists": args.artists, "mean_session_songs": args.mean_session_songs}
    config: dict = {
        "resources": {"source": {"config": source}, "settings": {"config": {"workers": args.workers}}},
        "execution": {"config": {"in_process": {}}},
    }
    if stage in TRAINING:
        config["ops"] = {stage: {"config": {"max_train_seconds": max_train_seconds, "train_shards": args.train_shards,
                                            **({"trainer": args.trainer} if args.trainer != "gensim" else {})}}}
    if stage == "skipgram_tuning" and args.tune_skipgram is not None:
        config["ops"] = {stage: {"config": skipgram_grid(args)}}
    return config


def skipgram_grid(args: argparse.Namespace) -> dict | None:
    """``skipgram_tuning``'s config from ``--tune-skipgram`` (a JSON object of its axes, {} for its default grid)."""
    if args.tune_skipgram is None:
        return None
    return {"enabled": True, **({"trainer": args.trainer} if args.trainer != "gensim" else {}), **args.tune_skipgram}


def _grid_arg(text: str) -> dict:
    try:
        grid = json.loads(text or "{}")
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    unknown = set(grid) - {"epochs", "alpha", "window", "tuning_k"} if isinstance(grid, dict) else None
    if unknown is None or unknown:
        raise argparse.ArgumentTypeError(f"a JSON object of epochs, alpha, window (lists) or tuning_k; got {text!r}")
    return grid


# ---------------------------------------------------------------- one stage, in its own process


def run_stage(stage: str, config: dict) -> int:
    import dagster as dg

    keys = dict(RUN_ORDER)[stage]
    with dg.execute_job(
        dg.reconstructable(_job), instance=local_instance(), run_config=config, raise_on_error=False,
        asset_selection=[dg.AssetKey(k) for k in keys], tags={STAGE_TAG: stage},
    ) as result:
        if result.success:
            return 0
        failures = [e.event_specific_data for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        text = " ".join(str(f.error.message) for f in failures if f.error)
        print(f"stage {stage} did not complete (run {result.run_id}): {text.strip()[:2000]}", file=sys.stderr)
        # a training that stopped at its time budget says so in its failure's metadata
        paused = any(f.user_failure_data and PAUSED_KEY in f.user_failure_data.metadata for f in failures)
        return PAUSED if paused else 1


def _job():
    from assets.definitions import defs, pipeline_job

    return defs.resolve_job_def(pipeline_job.name)


def fail_killed_runs(home: Path) -> list[str]:
    """Mark the Dagster runs of stages killed with their step as failed (their process is gone; the
    instance would show them STARTED for ever, and their folders would never be cleaned up)."""
    import dagster as dg

    instance = instance_of(home)
    killed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus(s) for s in NOT_ENDED],
                                             tags={STAGE_TAG: [n for n, _ in RUN_ORDER]}))
    for run in killed:
        instance.report_run_failed(run, f"killed with its paper-scale step (stage {run.tags[STAGE_TAG]}); the next step redoes it")
        MlflowTracking().end_pipeline_run(run.run_id, "FAILED")
    return [run.run_id for run in killed]


def _now() -> float:
    return time.time()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def step(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    set_home(home)
    settings = {"users": args.users, "songs": args.songs, "artists": args.artists, "mean_session_songs": args.mean_session_songs,
                "workers": args.workers, **({"train_shards": args.train_shards} if args.train_shards else {}),
                **({"trainer": args.trainer} if args.trainer != "gensim" else {}),  # (gensim runs' ledgers as they were)
                **({"skipgram_tuning": skipgram_grid(args)} if args.tune_skipgram is not None else {})}
    ledger = Ledger(home / "paper-run.json", settings)
    ledger.recover()
    for run_id in fail_killed_runs(home):
        print(f"Dagster run {run_id} was killed with the last step: marked failed")
    budget = args.hours * 3600.0
    t0 = _now()
    ledger.data["steps"].append({"started": _iso(t0), "stages": []})
    this_step = ledger.data["steps"][-1]
    ledger.save()
    stages = [n for n, _ in RUN_ORDER]
    stages = stages[: stages.index(args.until) + 1] if args.until else stages
    for name in stages:
        st = ledger.stage(name)
        if st["status"] == "done":
            continue
        elapsed = _now() - t0
        left = budget - elapsed
        ran_something = bool(this_step["stages"])
        # Stages other than training cannot pause: start one only in the first half of the budget.
        if ran_something and (left < 600 or (name not in TRAINING and elapsed > budget / 2)):
            break
        max_train = max(left, 600.0) if name in TRAINING else 0.0
        config = run_config(name, args, max_train)
        print(f"[{_iso(_now())}] {name}: starting (attempt {st['attempts'] + 1}"
              + (f", training budget {max_train / 60:.0f} min" if name in TRAINING else "") + ")", flush=True)
        st.update(status="running", started=_now(), heartbeat=_now(), attempts=st["attempts"] + 1)
        ledger.save()
        code, seconds, rss_mb = _spawn(name, config, ledger, st)
        st["seconds"] += seconds
        st["peak_rss_mb"] = max(st["peak_rss_mb"], rss_mb)
        st["status"] = "done" if code == 0 else "pending"
        this_step["stages"].append({"stage": name, "seconds": round(seconds, 1), "peak_rss_mb": round(rss_mb), "exit": code})
        ledger.save()
        print(f"[{_iso(_now())}] {name}: {'done' if code == 0 else 'paused' if code == PAUSED else f'FAILED ({code})'} "
              f"in {seconds / 60:.1f} min, peak RSS {rss_mb / 1024:.2f} GB", flush=True)
        if code not in (0, PAUSED):
            this_step["ended"] = "failed"
            ledger.save()
            return 1
        if code == PAUSED:
            break
    this_step["ended"] = _iso(_now())
    this_step["seconds"] = round(_now() - t0, 1)
    ledger.save()
    print(status_table(ledger.data))
    if all(ledger.stage(n)["status"] == "done" for n in stages):
        print(f"\nThe paper-scale run is complete{f' up to {args.until}' if args.until else ''}.")
        return 0
    print(f"\nNot done yet: run `make paper` again to go on (this step took {(_now() - t0) / 60:.0f} min).")
    return 3


def _spawn(name: str, config: dict, ledger: Ledger, st: dict) -> tuple[int, float, float]:
    """Run one stage in a child process; return its exit code, wall seconds and peak RSS (MB)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "paper_run", "_stage", name, json.dumps(config)], cwd=ROOT)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(30):
            st["heartbeat"] = _now()
            ledger.save()

    threading.Thread(target=beat, daemon=True).start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        stop.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss: kilobytes on Linux; the largest process among the stage and its own children.
    return proc.returncode, time.perf_counter() - t, usage.ru_maxrss / 1024


# ---------------------------------------------------------------- reporting


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_stage":  # internal: one stage in this process
        return run_stage(argv[1], json.loads(argv[2]))
    from pipeline.ingest.synthetic import SyntheticConfig
    from pipeline.io import write_json

    paper = SyntheticConfig.paper_scale()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="step", choices=["step", "status", "redo"])
    parser.add_argument("stages", nargs="*", help="with redo: stages to run again in the next step (their outputs are "
                        "deterministic, so what was built on them stays valid); the earlier measurement is kept as history")
    parser.add_argument("--home", default=str(ROOT / ".data" / "paper"), help="folder of this run's data, Dagster and MLflow")
    parser.add_argument("--hours", type=float, default=1.5, help="time budget of one step (default 1.5)")
    parser.add_argument("--users", type=int, default=paper.n_users)
    parser.add_argument("--songs", type=int, default=paper.n_songs)
    parser.add_argument("--artists", type=int, default=paper.n_artists)
    parser.add_argument("--mean-session-songs", type=float, default=paper.mean_session_songs)
    parser.add_argument("--workers", type=int, default=0, help="skip-gram threads (0: all cores)")
    parser.add_argument("--train-shards", type=int, default=0, help="train each skip-gram on its first N walk files only "
                        "(0: all, the paper's training): every other stage at full size in a few hours, to measure them; "
                        "the vectors are not the paper's")
    parser.add_argument("--trainer", choices=RESUMABLE, default="gensim", help="the skip-gram trainer of every embedding "
                        "(numba: the same method, about 2.4-2.9x faster at this size; docs/performance.md)")
    parser.add_argument("--tune-skipgram", nargs="?", const="{}", type=_grid_arg, metavar="GRID", help="enable skipgram_tuning, "
                        "so embedding_uss trains with the point it chooses on validation; GRID, a JSON object such as "
                        "'{\"epochs\": [1, 3], \"alpha\": [0.025]}', replaces its default axes (epochs [1, 3, 5], alpha "
                        "[0.025, 0.05], window [6]); its trainer is --trainer's")
    parser.add_argument("--until", choices=[n for n, _ in RUN_ORDER], help="stop after this stage")
    args = parser.parse_args(argv)
    if args.command == "redo":
        home = Path(args.home).resolve()
        data = json.loads((home / "paper-run.json").read_text())
        for name in args.stages:
            st = data["stages"][name]
            st.setdefault("history", []).append({k: v for k, v in st.items() if k != "history"})
            st.update(status="pending", seconds=0.0, peak_rss_mb=0.0)
        write_json(home / "paper-run.json", data)  # only between steps: a running step rewrites the ledger
        print(f"marked for the next step: {', '.join(args.stages)}")
        return 0
    if args.command in ("status", "redo") and not (Path(args.home) / "paper-run.json").exists():
        print(f"no paper-scale run in {args.home} yet: `make paper` starts one", file=sys.stderr)
        return 1
    if args.command == "status":
        home = Path(args.home).resolve()
        data = json.loads((home / "paper-run.json").read_text())
        print(status_table(data))
        print(training_summary(data, training_times(home)))
        print("disk (GB): " + ", ".join(f"{k} {v:.2f}" for k, v in disk_usage(home).items()))
        return 0
    return step(args)


if __name__ == "__main__":
    raise SystemExit(main())
