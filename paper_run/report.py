"""What the ledger says: the status table, the bare training time against everything else, disk use."""

from __future__ import annotations

import json
from pathlib import Path

from paper_run.stages import RUN_ORDER, TRAINING, instance_of, store_of


def status_table(data: dict) -> str:
    rows = [f"{'stage':<18} {'status':<8} {'minutes':>8} {'peak RSS GB':>12} {'attempts':>9} {'interrupted':>12}"]
    total = training = 0.0
    for name, _ in RUN_ORDER:
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
    from pipeline.embedding.checkpoints import checkpoint_states

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


