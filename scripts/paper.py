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
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAUSED = 75  # exit code of a stage whose training stopped at its time budget (EX_TEMPFAIL)
STAGE_TAG = "paper_scale_stage"

# (stage, asset keys): dependency order, the 128-d evaluation first, the pictures last.
STAGES = [
    ("raw_events", ["raw_events", "quarantine"]),
    ("sessions", ["sessions"]),
    ("splits", ["splits"]),
    ("graph_uss", ["graph_uss"]),
    ("graph_us", ["graph_us"]),
    ("walks_uss", ["walks_uss"]),
    ("walks_us", ["walks_us"]),
    ("embedding_uss", ["embedding_uss"]),
    ("embedding_us", ["embedding_us"]),
    ("validation_split", ["validation_split"]),
    ("als_tuning", ["als_tuning"]),
    ("skipgram_tuning", ["skipgram_tuning"]),
    ("baselines", ["baselines"]),
    ("metrics", ["metrics"]),
    ("embedding_uss_2d", ["embedding_uss_2d"]),
    ("behaviour", ["behaviour"]),
    ("plots", ["plots"]),
    ("explorer", ["explorer"]),
]
TRAINING = {"embedding_uss", "embedding_us", "embedding_uss_2d"}


def set_home(home: Path) -> None:
    """Point the data, Dagster and MLflow at ``home`` (before anything imports them)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["LATENT_HOME"] = str(home)
    os.environ["LATENT_DATA_DIR"] = str(home / "store")
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    (home / "mlflow").mkdir(exist_ok=True)
    (home / "dagster").mkdir(exist_ok=True)
    if not (home / "dagster" / "dagster.yaml").exists():
        shutil.copy(ROOT / "scripts" / "dagster.yaml", home / "dagster" / "dagster.yaml")


def run_config(stage: str, args: argparse.Namespace, max_train_seconds: float) -> dict:
    source = {"n_users": args.users, "n_songs": args.songs, "n_artists": args.artists, "mean_session_songs": args.mean_session_songs}
    config: dict = {
        "resources": {"source": {"config": source}, "settings": {"config": {"workers": args.workers}}},
        "execution": {"config": {"in_process": {}}},
    }
    if stage in TRAINING:
        config["ops"] = {stage: {"config": {"max_train_seconds": max_train_seconds}}}
    return config


# ---------------------------------------------------------------- one stage, in its own process


def run_stage(stage: str, config: dict) -> int:
    import dagster as dg

    keys = dict(STAGES)[stage]
    with dg.execute_job(
        dg.reconstructable(_job), instance=dg.DagsterInstance.get(), run_config=config, raise_on_error=False,
        asset_selection=[dg.AssetKey(k) for k in keys], tags={STAGE_TAG: stage},
    ) as result:
        if result.success:
            return 0
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        text = " ".join(str(e.event_specific_data.error.message) for e in failures if e.event_specific_data.error)
        print(f"stage {stage} did not complete (run {result.run_id}): {text.strip()[:2000]}", file=sys.stderr)
        return PAUSED if stage in TRAINING and "materialize again to resume" in text else 1


def _job():
    from assets.definitions import defs, pipeline_job

    return defs.resolve_job_def(pipeline_job.name)


# ---------------------------------------------------------------- the ledger


class Ledger:
    def __init__(self, path: Path, settings: dict) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {"settings": settings, "stages": {}, "steps": []}
        if self.data["settings"] != settings:
            raise SystemExit(
                f"{path} belongs to a run with other settings ({self.data['settings']}); "
                f"use another --home or delete that folder to start over"
            )
        self.lock = threading.Lock()

    def stage(self, name: str) -> dict:
        return self.data["stages"].setdefault(
            name, {"status": "pending", "seconds": 0.0, "peak_rss_mb": 0.0, "attempts": 0, "interrupted": 0, "lost_seconds": 0.0}
        )

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_name(self.path.name + ".partial")
            tmp.write_text(json.dumps(self.data, indent=2))
            os.replace(tmp, self.path)

    def recover(self) -> None:
        """A stage left 'running' was killed with its step: count the interruption and the work lost.

        A training stage keeps what it checkpointed: the time up to its last checkpoint counts as
        the stage's, only the time after it as lost. Any other stage loses the whole attempt.
        """
        for name, st in self.data["stages"].items():
            if st["status"] == "running":
                started, heartbeat = st.get("started", 0.0), st.get("heartbeat", 0.0)
                saved = last_checkpoint_time(self.path.parent, name) if name in TRAINING else None
                kept = saved if saved is not None and saved > started else started
                st["seconds"] += kept - started
                st["interrupted"] += 1
                st["lost_seconds"] += max(0.0, heartbeat - kept)
                st["status"] = "pending"
                print(f"{name}: the last step was interrupted in this stage; it resumes from what is complete on disk")
        for step in self.data["steps"]:
            step.setdefault("ended", "interrupted")


def last_checkpoint_time(home: Path, stage: str) -> float | None:
    """When a training stage last wrote a checkpoint (its state file is rewritten with each), if it has one."""
    from pipeline.checkpoints import checkpoint_states

    states = checkpoint_states(store_of(home).checkpoints(stage))
    return max(p.stat().st_mtime for p in states) if states else None


def store_of(home: Path):
    from pipeline.contract import Store

    return Store(home / "store")


def instance_of(home: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home / "dagster"))


NOT_ENDED = ("NOT_STARTED", "STARTING", "STARTED")


def fail_killed_runs(home: Path) -> list[str]:
    """Mark the Dagster runs of stages killed with their step as failed (their process is gone; the
    instance would show them STARTED for ever, and their folders would never be cleaned up)."""
    import dagster as dg

    instance = instance_of(home)
    killed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus(s) for s in NOT_ENDED],
                                             tags={STAGE_TAG: [n for n, _ in STAGES]}))
    for run in killed:
        instance.report_run_failed(run, f"killed with its paper-scale step (stage {run.tags[STAGE_TAG]}); the next step redoes it")
    return [run.run_id for run in killed]


def _now() -> float:
    return time.time()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def step(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    set_home(home)
    settings = {"users": args.users, "songs": args.songs, "artists": args.artists, "mean_session_songs": args.mean_session_songs,
                "workers": args.workers}
    ledger = Ledger(home / "paper-run.json", settings)
    ledger.recover()
    for run_id in fail_killed_runs(home):
        print(f"Dagster run {run_id} was killed with the last step: marked failed")
    budget = args.hours * 3600.0
    t0 = _now()
    ledger.data["steps"].append({"started": _iso(t0), "stages": []})
    this_step = ledger.data["steps"][-1]
    ledger.save()
    stages = [n for n, _ in STAGES]
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
    proc = subprocess.Popen([sys.executable, "-m", "scripts.paper", "_stage", name, json.dumps(config)], cwd=ROOT)
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


def status_table(data: dict) -> str:
    rows = [f"{'stage':<18} {'status':<8} {'minutes':>8} {'peak RSS GB':>12} {'attempts':>9} {'interrupted':>12}"]
    total = training = 0.0
    for name, _ in STAGES:
        st = data["stages"].get(name)
        if not st:
            rows.append(f"{name:<18} {'pending':<8}")
            continue
        total += st["seconds"]
        training += st["seconds"] if name in TRAINING else 0.0
        rows.append(f"{name:<18} {st['status']:<8} {st['seconds'] / 60:8.1f} {st['peak_rss_mb'] / 1024:12.2f} "
                    f"{st['attempts']:9d} {st['interrupted']:12d}")
    rows.append(f"{'total':<18} {'':<8} {total / 60:8.1f}   (skip-gram training {training / 60:.1f} min, "
                f"{100 * training / max(total, 1e-9):.0f} %)")
    return "\n".join(rows)


def training_times(home: Path) -> dict[str, dict]:
    """Per training stage: seconds inside gensim's train() and writing checkpoints, over every attempt,
    and how many of its shards were timed (checkpoints from before these were recorded have none)."""
    from assets.stage_io import latest

    return training_times_of(latest(instance_of(home)), store_of(home))


def training_times_of(finished: dict, store) -> dict[str, dict]:
    """``training_times`` from the finished trainings' files (stage -> StageFiles) and the store's checkpoints."""
    from pipeline.checkpoints import checkpoint_states

    out = {}
    for name in sorted(TRAINING):
        states = [finished[name]["params"]] if name in finished else []
        states += checkpoint_states(store.checkpoints(name))
        state = next((json.loads(p.read_text()) for p in states if p.exists()), None)
        if state is None:
            continue
        if "units_timed" in state:  # params.json of a finished training
            times = (state["train_seconds_all_attempts"], state["checkpoint_seconds_all_attempts"], state["units_timed"])
        else:  # state.json of one in progress
            times = (sum(state.get("unit_seconds", [])), sum(state.get("checkpoint_seconds", [])), len(state.get("unit_seconds", [])))
        out[name] = dict(zip(["train_seconds", "checkpoint_seconds", "units_timed"], times), units_total=state.get("units_total", 0))
    return out


def training_summary(data: dict, times: dict[str, dict]) -> str:
    """The share of the run that is bare skip-gram training, and what everything else adds to it."""
    total = sum(st["seconds"] for st in data["stages"].values())
    bare = sum(t["train_seconds"] for t in times.values())
    timed = ", ".join(f"{k} {t['units_timed']}/{t['units_total']}" for k, t in times.items())
    lost = sum(st.get("lost_seconds", 0.0) for st in data["stages"].values())
    interrupted = sum(st.get("interrupted", 0) for st in data["stages"].values())
    steps = data.get("steps", [])
    ended = [st["seconds"] for st in steps if "seconds" in st]
    lines = [f"steps: {len(steps)} ({sum(st.get('ended') == 'interrupted' for st in steps)} killed midway)"
             + (f"; the longest that ended by itself took {max(ended) / 60:.0f} min" if ended else ""),
             f"interruptions survived: {interrupted} (work lost after the last checkpoints: {lost / 60:.0f} min, not in the minutes above)"]
    if bare > 0:
        whole = set(times) == TRAINING and all(t["units_timed"] == t["units_total"] for t in times.values())
        lines.append(f"bare skip-gram training (gensim train(), shards timed: {timed}): {bare / 60:.1f} min; "
                     f"checkpoints {sum(t['checkpoint_seconds'] for t in times.values()) / 60:.1f} min; "
                     + (f"everything else adds {100 * (total - bare) / bare:.0f} % to the bare training" if whole else
                        "what everything else adds is given once every shard of every training is timed"))
    return "\n".join(lines)


def disk_usage(home: Path) -> dict[str, float]:
    """GB on disk of each stage folder under the store."""
    store = home / "store"
    out = {}
    for folder in sorted(p for p in store.iterdir() if p.is_dir()) if store.exists() else []:
        out[folder.name] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e9
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_stage":  # internal: one stage in this process
        return run_stage(argv[1], json.loads(argv[2]))
    from pipeline.io import write_json
    from pipeline.synthetic import SyntheticConfig

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
    parser.add_argument("--until", choices=[n for n, _ in STAGES], help="stop after this stage")
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
