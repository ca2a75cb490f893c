"""Scaling: the whole pipeline at growing log sizes, wall time and peak RSS per stage.

Each size is a full run of ``scripts.paper`` (every stage a Dagster run in its own process, peak
RSS measured per process) in its own home under ``--base``; a size already complete there is
read, not rerun. The synthetic log grows by its users (songs and artists in proportion, as in the
paper-scale preset), so events grow in proportion too. "Linearity" is each stage's seconds per
million events at the largest size over the same at the smallest (and at the two largest sizes,
where fixed per-process costs no longer dominate): 1.0 is linear, 2.0 twice as slow per event.
Below the table: minutes inside gensim's ``train()`` (bare skip-gram training) and what every other
stage adds to it, as issue 3's paper-scale goal measures it (at most 15 %).

    python benchmarks/scaling.py --events 1 4 16      # millions of generated events
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assets.stage_io import latest  # noqa: E402
from paper_run.report import training_times  # noqa: E402
from paper_run.stages import RUN_ORDER, TRAINING, instance_of  # noqa: E402
from pipeline.ingest.synthetic import SyntheticConfig  # noqa: E402

EVENTS_PER_USER = 2_053  # generated events a user of the preset (measured: 1,000 users -> 2,052,843 events)


def size_args(million_events: float) -> list[str]:
    paper = SyntheticConfig.paper_scale()
    users = max(50, round(million_events * 1e6 / EVENTS_PER_USER))
    ratio = users / paper.n_users
    return ["--users", str(users), "--songs", str(max(500, round(paper.n_songs * ratio))),
            "--artists", str(max(50, round(paper.n_artists * ratio))), "--mean-session-songs", str(paper.mean_session_songs)]


def run(million_events: float, base: Path, workers: int) -> dict:
    home = base / f"{million_events:g}M"
    while True:  # one step at a time, as a user would rerun `make paper`
        code = subprocess.call([sys.executable, "-m", "scripts.paper", "--home", str(home), "--hours", "24",
                                "--workers", str(workers), *size_args(million_events)], cwd=ROOT)
        if code == 0:
            break
        if code != 3:
            raise SystemExit(f"the {million_events:g}M run failed (exit {code}); see {home}")
    ledger = json.loads((home / "paper-run.json").read_text())
    events = json.loads(latest(instance_of(home))["raw_events"]["summary"].read_text())["events"]
    return {"events": events, "stages": ledger["stages"], "training": training_times(home)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=float, nargs="+", default=[1, 4, 16], help="sizes, millions of generated events")
    parser.add_argument("--base", default=str(ROOT / ".data" / "scaling"))
    parser.add_argument("--workers", type=int, default=0, help="skip-gram threads (0: all cores)")
    args = parser.parse_args()
    print(report({size: run(size, Path(args.base), args.workers) for size in args.events}))


def report(results: dict[float, dict]) -> str:
    """The table: per stage, minutes and peak GB at each size, then the linearity ratios."""
    sizes = list(results)
    lines = ["\nScaling: wall time (min) and peak RSS (GB) per stage"]
    span = f"{sizes[0]:g}M->{sizes[-1]:g}M"
    last_two = f"{sizes[-2]:g}M->{sizes[-1]:g}M" if len(sizes) > 2 else ""
    lines.append(f"{'stage':<18}" + "".join(f"{f'{s:g}M min':>10}{'GB':>7}" for s in sizes) + f"{span:>12}{last_two:>12}")
    totals = {s: 0.0 for s in sizes}
    for name, _ in RUN_ORDER:
        cells = ""
        for s in sizes:
            st = results[s]["stages"][name]
            totals[s] += st["seconds"]
            cells += f"{st['seconds'] / 60:10.2f}{st['peak_rss_mb'] / 1024:7.2f}"
        per_event = [results[s]["stages"][name]["seconds"] / max(results[s]["events"], 1) for s in sizes]
        ratio = lambda a, b: f"{b / a:12.2f}" if a > 0 else f"{'-':>12}"
        mark = " *" if name in TRAINING else ""
        lines.append(f"{name:<18}{cells}{ratio(per_event[0], per_event[-1])}{ratio(per_event[-2], per_event[-1]) if last_two else ''}{mark}")
    lines.append(f"{'total':<18}" + "".join(f"{totals[s] / 60:10.2f}{'':>7}" for s in sizes))
    bare = {s: sum(t["train_seconds"] for t in results[s].get("training", {}).values()) for s in sizes}
    lines.append(f"{'bare train()':<18}" + "".join(f"{bare[s] / 60:10.2f}{'':>7}" for s in sizes))
    lines.append(f"{'rest adds %':<18}" + "".join(
        f"{100 * (totals[s] - bare[s]) / bare[s]:10.0f}{'':>7}" if bare[s] else f"{'-':>10}{'':>7}" for s in sizes))
    lines.append("events: " + ", ".join(f"{s:g}M -> {results[s]['events']:,}" for s in sizes) + "   (* skip-gram training)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
