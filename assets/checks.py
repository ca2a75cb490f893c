"""Asset checks: the invariants of each stage (``pipeline.invariants``), run inside the asset on what it just wrote,
with the config it ran with. Every check is blocking: when one fails, nothing downstream runs on the data."""


import dagster as dg

from pipeline import invariants
from pipeline.contract import StageFiles, walks_stage


def spec(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=True)


RECONCILE = spec("raw_events_reconcile", "raw_events", "Every input row is accepted or quarantined: accepted + quarantined "
                 "= read, the files hold what the counts say, and no whole file was rejected uncounted.")
SESSION_RULE = spec("sessions_obey_rule", "sessions", "Consecutive events of a session are closer than the gap on one device; "
                    "consecutive sessions of a user are not.")
NO_COLD_START = spec("no_cold_start_songs_in_test", "splits", "No test event has a song that never occurs in train.")
SPLIT_SIDES = spec("split_sides_of_cutoff", "splits", "Every train event is before the cutoff, every test event at or after it.")


def walk_spec(network: str) -> dg.AssetCheckSpec:
    return spec(f"walks_{network}_follow_edges", walks_stage(network),
                f"In the first {invariants.WALKS_CHECKED:,} walks every consecutive pair of vertices is an edge.")


def embedding_spec(name: str) -> dg.AssetCheckSpec:
    return spec(f"{name}_finite_and_complete", name, "One finite vector for every vertex of the graph.")


def _result(check: dg.AssetCheckSpec, measured: invariants.Measured) -> dg.AssetCheckResult:
    held, metadata = measured
    return dg.AssetCheckResult(check_name=check.name, passed=held, metadata=metadata)


def reconcile(raw: StageFiles) -> dg.AssetCheckResult:
    return _result(RECONCILE, invariants.reconciled(raw))


def session_rule(sessions: StageFiles, session_gap_minutes: float, split_on_device_change: bool) -> dg.AssetCheckResult:
    return _result(SESSION_RULE, invariants.session_rule(sessions, session_gap_minutes, split_on_device_change))


def no_cold_start(splits: StageFiles) -> dg.AssetCheckResult:
    return _result(NO_COLD_START, invariants.no_cold_start(splits))


def split_sides(splits: StageFiles, cutoff: str) -> dg.AssetCheckResult:
    return _result(SPLIT_SIDES, invariants.split_sides(splits, cutoff))


def walks_follow_edges(network: str, graph: StageFiles, walks: StageFiles) -> dg.AssetCheckResult:
    return _result(walk_spec(network), invariants.walks_follow_edges(graph, walks))


def finite_and_complete(name: str, embedding: StageFiles, walks: StageFiles) -> dg.AssetCheckResult:
    return _result(embedding_spec(name), invariants.finite_and_complete(embedding, walks))
