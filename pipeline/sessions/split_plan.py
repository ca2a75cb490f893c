"""The split planner: for candidate cutoffs and (train, test) session counts, how much of a log each real-life split keeps.

The paper's split (``pipeline.sessions.splits``) keeps a user only with ``train_sessions`` sessions before the
cutoff and ``test_sessions`` after it; its defaults (2016-06-01, 80 and 20) fit KKBOX's six months and
few other logs. The planner counts, from the sessions table alone (one row a session, so it is cheap),
what each choice keeps: users, train and test sessions, and their events (before the cold-start drop,
which only the split itself can count).

Candidates: the cutoffs are the first day of each month inside the log's span (thinned evenly to at
most ``MAX_CUTOFFS``) and the deciles of the span; the session counts are the configured pair, then
the paper's 80/20 and its halvings (40/10, 20/5, 10/3).

**The rule** (``recommend``): take the first pair, in that order, under which some cutoff keeps at
least ``MIN_USER_SHARE`` of the log's users (and at least ``MIN_USERS``); under it, the cutoff that
keeps the most users, and on a tie the later one (the more recent data). When no pair qualifies, the
choice keeping the most users overall, flagged as below the rule. ``cutoff: auto`` uses it.

**One plan for the run** (``RunPlan``): the split's cutoff and session counts fix what every later stage gets of
each user (every train user has exactly ``train_sessions`` sessions), so the plan also fixes the validation
sessions and checks each later stage's per-user minimum. A plan some stage could not accept is refused
(``PlanError``) when the split is planned, before any walk or training, naming the stage and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone

import polars as pl

from pipeline import defaults
from pipeline.contract import StageFiles
from pipeline.io import atomic_path, read_json, write_json

MAX_CUTOFFS = 24
MIN_USER_SHARE = 0.25
MIN_USERS = 10
PAIRS = ((80, 20), (40, 10), (20, 5), (10, 3))
AUTO = "auto"


@dataclass(frozen=True)
class Recommendation:
    cutoff: str
    train_sessions: int
    test_sessions: int
    users: int
    meets_rule: bool

    @property
    def why(self) -> str:
        share = f"{MIN_USER_SHARE:.0%}"
        if self.meets_rule:
            return (f"the first session counts ({self.train_sessions} train, {self.test_sessions} test) under which a cutoff "
                    f"keeps at least {share} of the users; {self.cutoff} keeps the most ({self.users})")
        return (f"no candidate keeps {share} of the users (or {MIN_USERS}); {self.cutoff} with {self.train_sessions}/"
                f"{self.test_sessions} sessions keeps the most ({self.users})")


def candidate_cutoffs(start: datetime, end: datetime) -> list[datetime]:
    """Month starts strictly inside (start, end], thinned to at most MAX_CUTOFFS, and the span's deciles; sorted."""
    months, year, month = [], start.year, start.month
    while True:
        month, year = (1, year + 1) if month == 12 else (month + 1, year)
        first = datetime(year, month, 1, tzinfo=timezone.utc)
        if first > end:
            break
        months.append(first)
    if len(months) > MAX_CUTOFFS:
        step = len(months) / MAX_CUTOFFS
        months = [months[int(i * step)] for i in range(MAX_CUTOFFS)]
    deciles = [(start + (end - start) * k / 10).replace(hour=0, minute=0, second=0, microsecond=0) for k in range(1, 10)]
    return sorted({c for c in months + deciles if start < c <= end})


def pairs_for(train_sessions: int, test_sessions: int) -> list[tuple[int, int]]:
    """The candidate (train, test) session counts in the rule's order: the configured pair first."""
    return list(dict.fromkeys([(train_sessions, test_sessions), *PAIRS]))


def plan(sessions: pl.DataFrame, pairs: list[tuple[int, int]] | None = None,
         min_session_songs: int = defaults.MIN_SESSION_SONGS) -> pl.DataFrame:
    """One row per (cutoff, train_sessions, test_sessions): users, sessions and events each split keeps.

    ``sessions``: one row a session with user_id, start, end and n_songs (the sessions stage's table);
    ``pairs``: the (train, test) session counts, in the rule's order (default: the paper's, then halvings)."""
    pairs = pairs or list(PAIRS)
    kept = sessions.filter(pl.col("n_songs") >= min_session_songs).select("user_id", "start", "end", "n_songs")
    users_in = sessions["user_id"].n_unique()
    schema = {"cutoff": pl.String, "train_sessions": pl.Int64, "test_sessions": pl.Int64, "users": pl.Int64,
              "share_of_users": pl.Float64, "train_events": pl.Int64, "test_events": pl.Int64}
    if kept.is_empty():
        return pl.DataFrame(schema=schema)
    rows = []
    for cut in candidate_cutoffs(kept["start"].min(), kept["end"].max()):
        ranked = pl.concat([
            kept.filter(pl.col("end") < cut).with_columns(
                pl.lit("train").alias("side"), pl.col("start").rank("ordinal", descending=True).over("user_id").alias("rank")),
            kept.filter(pl.col("start") >= cut).with_columns(
                pl.lit("test").alias("side"), pl.col("start").rank("ordinal").over("user_id").alias("rank")),
        ])
        for train_n, test_n in pairs:
            chosen = ranked.filter(pl.col("rank") <= pl.when(pl.col("side") == "train").then(train_n).otherwise(test_n))
            per_user = chosen.group_by("user_id").agg(
                (pl.col("side") == "train").sum().alias("train"), (pl.col("side") == "test").sum().alias("test"),
                pl.col("n_songs").filter(pl.col("side") == "train").sum().alias("train_events"),
                pl.col("n_songs").filter(pl.col("side") == "test").sum().alias("test_events"),
            ).filter((pl.col("train") == train_n) & (pl.col("test") == test_n))
            rows.append({"cutoff": cut.date().isoformat(), "train_sessions": train_n, "test_sessions": test_n,
                         "users": per_user.height, "share_of_users": per_user.height / users_in,
                         "train_events": int(per_user["train_events"].sum()), "test_events": int(per_user["test_events"].sum())})
    return pl.DataFrame(rows, schema=schema)


def users_by_cutoff(table: pl.DataFrame) -> pl.DataFrame:
    """``plan``'s table to read: a row per cutoff, a column per (train, test) pair (``users at 80/20``), users kept."""
    return table.with_columns(pl.format("users at {}/{}", "train_sessions", "test_sessions").alias("pair")).pivot(
        "pair", index="cutoff", values="users", sort_columns=False)


def recommend(table: pl.DataFrame, pairs: list[tuple[int, int]] | None = None) -> Recommendation:
    """The rule of the module docstring, applied to ``plan``'s table, trying ``pairs`` in order (default: the table's)."""
    if table.is_empty() or table["users"].max() == 0:
        raise ValueError("no candidate split keeps any user: the log has too few sessions of enough songs on either side "
                         "of any cutoff (see the planner's table)")
    pairs = pairs or list(dict.fromkeys(zip(table["train_sessions"], table["test_sessions"])))
    for train_n, test_n in pairs:
        under = table.filter((pl.col("train_sessions") == train_n) & (pl.col("test_sessions") == test_n))
        good = under.filter((pl.col("share_of_users") >= MIN_USER_SHARE) & (pl.col("users") >= MIN_USERS))
        if not good.is_empty():
            best = good.sort(["users", "cutoff"], descending=True).row(0, named=True)
            return Recommendation(best["cutoff"], train_n, test_n, best["users"], True)
    best = table.sort(["users", "cutoff"], descending=True).row(0, named=True)
    return Recommendation(best["cutoff"], best["train_sessions"], best["test_sessions"], best["users"], False)


class PlanError(ValueError):
    """A run plan some stage could not accept; its message names the stage and the reason."""


@dataclass(frozen=True)
class RunPlan:
    """What each stage gets of every user under a split of ``train_sessions`` / ``test_sessions`` sessions a user.

    ``validation_sessions``: each user's last train sessions that validate; None (``defaults.VALIDATION_SESSIONS``)
    takes as many as the split's test sessions, at most half of train."""

    train_sessions: int
    test_sessions: int
    validation_sessions: int

    @classmethod
    def of(cls, train_sessions: int, test_sessions: int, validation_sessions: int | None = defaults.VALIDATION_SESSIONS) -> RunPlan:
        """The plan for a split, refused (``PlanError``) when a later stage could not accept it."""
        if train_sessions < 1 or test_sessions < 1:
            raise PlanError(f"splits: train_sessions ({train_sessions}) and test_sessions ({test_sessions}) must be at least 1")
        if validation_sessions is None:
            validation_sessions = min(test_sessions, train_sessions // 2)
        if not isinstance(validation_sessions, int) or isinstance(validation_sessions, bool):
            raise PlanError(f"validation_split: validation_sessions must be a whole number (or unset: auto), not {validation_sessions!r}")
        if validation_sessions < 1 or validation_sessions >= train_sessions:
            raise PlanError(f"validation_split: {validation_sessions} validation sessions a user cannot be carved from "
                            f"{train_sessions} train sessions (each train user has exactly {train_sessions}; at least one must "
                            f"stay to fit): set validation_sessions between 1 and {train_sessions - 1}, or leave it unset")
        if train_sessions < defaults.BEHAVIOUR_MIN_SESSIONS:
            raise PlanError(f"behaviour: a user's preference spread and dependence are measured on at least "
                            f"{defaults.BEHAVIOUR_MIN_SESSIONS} train sessions, and this split gives each user "
                            f"{train_sessions}: set train_sessions to {defaults.BEHAVIOUR_MIN_SESSIONS} or more")
        return cls(train_sessions, test_sessions, validation_sessions)

    @property
    def fit_sessions(self) -> int:
        return self.train_sessions - self.validation_sessions

    def stages(self) -> dict[str, str]:
        """What each stage that depends on the per-user counts gets of every user, in words."""
        return {
            "splits": f"{self.train_sessions} train sessions before the cutoff, {self.test_sessions} test sessions after it",
            "validation_split": f"the last {self.validation_sessions} train sessions validate, {self.fit_sessions} fit",
            "als_tuning, skipgram_tuning": f"fit on {self.fit_sessions} sessions, scored on {self.validation_sessions}",
            "metrics": f"{self.test_sessions} test sessions a user to query; recommendation from the user's "
                       f"{self.train_sessions} train sessions",
            "behaviour": f"{self.train_sessions} sessions a user (at least {defaults.BEHAVIOUR_MIN_SESSIONS} needed)",
        }


def resolve(params, plan_files, sessions_path, validation_sessions: int | None = defaults.VALIDATION_SESSIONS) -> tuple:
    """The split's settings: ``params`` as given, or, for ``cutoff: auto``, the planner's recommendation tried with
    the configured session counts first (the stored plan when it was made for them, else planned again here).
    Returns (settings, what was chosen and how, for the record, with the run's ``RunPlan``); ``PlanError`` when a
    later stage could not accept the split."""
    if params.cutoff != AUTO:
        return params, _with_plan({"cutoff": params.cutoff, "train_sessions": params.train_sessions,
                                   "test_sessions": params.test_sessions, "how": f"as configured: cutoff {params.cutoff}"},
                                  validation_sessions)
    pairs = pairs_for(params.train_sessions, params.test_sessions)
    table = pl.read_parquet(plan_files["plan"])
    stored = read_json(plan_files["recommendation"])
    planned = set(zip(table["train_sessions"], table["test_sessions"]))
    if stored.get("min_session_songs") != params.min_session_songs or not set(pairs) <= planned:
        table = plan(pl.read_parquet(sessions_path), pairs, params.min_session_songs)
    best = recommend(table, pairs)
    chosen = replace(params, cutoff=best.cutoff, train_sessions=best.train_sessions, test_sessions=best.test_sessions)
    return chosen, _with_plan({**asdict(best), "how": f"cutoff: auto → {best.cutoff}, {best.train_sessions} train and "
                                                      f"{best.test_sessions} test sessions ({best.why})"}, validation_sessions)


def _with_plan(record: dict, validation_sessions: int | None) -> dict:
    run = RunPlan.of(record["train_sessions"], record["test_sessions"], validation_sessions)
    return {**record, "validation_sessions": run.validation_sessions, "stages": run.stages()}


def split_plan(upstream: Mapping[str, StageFiles], out: StageFiles, log=None) -> dict:
    """The ``split_plan`` stage: ``plan`` over the sessions, written with its ``recommend``-ation; returns the
    recommendation in words."""
    table = plan(pl.read_parquet(upstream["sessions"]["sessions"]))
    with atomic_path(out["plan"]) as tmp:
        table.write_parquet(tmp)
    best = recommend(table)
    write_json(out["recommendation"], {**asdict(best), "why": best.why, "min_session_songs": defaults.MIN_SESSION_SONGS})
    return {"recommended": f"{best.cutoff}, {best.train_sessions} train and {best.test_sessions} test sessions: {best.why}"}
