"""The split planner on a hand-made sessions table whose answers are counted by hand."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from pipeline.sessions import split_plan

D = lambda m, d: datetime(2016, m, d, tzinfo=timezone.utc)  # noqa: E731
SESSIONS = [  # (user, start, songs)
    ("A", D(1, 5), 5), ("A", D(1, 10), 5), ("A", D(1, 20), 5), ("A", D(1, 25), 3), ("A", D(2, 10), 5),
    ("B", D(1, 15), 5), ("B", D(2, 5), 5), ("B", D(2, 6), 5),
    ("C", D(3, 20), 5),
]


def table() -> pl.DataFrame:
    return pl.DataFrame({
        "session_id": range(len(SESSIONS)), "user_id": [u for u, _, _ in SESSIONS],
        "start": [s for _, s, _ in SESSIONS], "end": [s + timedelta(minutes=30) for _, s, _ in SESSIONS],
        "n_songs": pl.Series([n for _, _, n in SESSIONS], dtype=pl.UInt32),
    })


def test_candidate_cutoffs_are_month_starts_and_deciles():
    cuts = split_plan.candidate_cutoffs(D(1, 5), D(3, 20))
    assert D(2, 1) in cuts and D(3, 1) in cuts  # month starts inside the span
    assert D(2, 4) in cuts and D(2, 11) in cuts  # 4th decile: Jan 5 + 30 days; 5th: + 37.5 days, to the day
    assert cuts == sorted(cuts) and len(cuts) == 11


def test_each_choice_counts_what_the_split_would_keep():
    plan = split_plan.plan(table(), pairs=[(2, 1), (1, 1)])
    row = lambda cut, tr, te: plan.filter((pl.col("cutoff") == cut) & (pl.col("train_sessions") == tr)  # noqa: E731
                                          & (pl.col("test_sessions") == te)).row(0, named=True)
    # Feb 1, 2 train + 1 test: only A (the 3-song session is too short); its last two train sessions and first test one
    assert row("2016-02-01", 2, 1) | {} == {"cutoff": "2016-02-01", "train_sessions": 2, "test_sessions": 1, "users": 1,
                                            "share_of_users": 1 / 3, "train_events": 10, "test_events": 5}
    # 1 + 1: A and B
    assert (row("2016-02-01", 1, 1)["users"], row("2016-02-01", 1, 1)["train_events"], row("2016-02-01", 1, 1)["test_events"]) == (2, 10, 10)
    # Mar 1: nobody has a session after it but C, who has none before
    assert row("2016-03-01", 1, 1)["users"] == 0


def test_the_rule_takes_the_first_pair_that_keeps_enough_users_and_its_latest_best_cutoff(monkeypatch):
    monkeypatch.setattr(split_plan, "MIN_USERS", 1)
    plan = split_plan.plan(table(), pairs=[(2, 1), (1, 1)])
    best = split_plan.recommend(plan)
    # under 2 + 1 only A can be kept (1/3 of users >= 25%); the cutoffs keeping A are Feb 1 and Feb 4: the later wins
    assert (best.cutoff, best.train_sessions, best.test_sessions, best.users, best.meets_rule) == ("2016-02-04", 2, 1, 1, True)
    monkeypatch.setattr(split_plan, "MIN_USER_SHARE", 0.5)
    best = split_plan.recommend(plan)  # 2 + 1 keeps only a third: step down to 1 + 1
    assert (best.train_sessions, best.test_sessions, best.users, best.meets_rule) == (1, 1, 2, True)


def test_below_the_rule_the_best_choice_is_flagged_and_nothing_kept_is_an_error():
    best = split_plan.recommend(split_plan.plan(table(), pairs=[(2, 1), (1, 1)]))  # MIN_USERS = 10 > 3 users
    assert not best.meets_rule and best.users == 2 and "no candidate" in best.why
    with pytest.raises(ValueError, match="no candidate split keeps any user"):
        split_plan.recommend(split_plan.plan(table(), pairs=[(5, 5)]))


@pytest.mark.parametrize("train, test, validation", [(80, 20, 20), (40, 10, 10), (20, 5, 5), (10, 3, 3), (12, 9, 6)])
def test_the_run_plan_validates_as_many_sessions_as_test_takes_at_most_half_of_train(train, test, validation):
    plan = split_plan.RunPlan.of(train, test)
    assert (plan.validation_sessions, plan.fit_sessions) == (validation, train - validation)
    assert f"the last {validation} train sessions validate, {train - validation} fit" == plan.stages()["validation_split"]


def test_every_pair_the_planner_may_choose_is_a_plan_every_stage_accepts():
    for train, test in split_plan.PAIRS:
        split_plan.RunPlan.of(train, test)  # raises PlanError otherwise


@pytest.mark.parametrize("train, test, validation, stage, says", [
    (20, 5, 20, "validation_split", "between 1 and 19"),  # what once failed after the split: 20 of 20 leaves none to fit
    (20, 5, 0, "validation_split", "between 1 and 19"),
    (20, 5, 2.5, "validation_split", "whole number"),
    (8, 2, None, "behaviour", "at least 10 train sessions"),
    (0, 2, None, "splits", "at least 1"),
])
def test_a_plan_some_stage_could_not_accept_is_refused_naming_the_stage(train, test, validation, stage, says):
    with pytest.raises(split_plan.PlanError, match=says) as refused:
        split_plan.RunPlan.of(train, test, validation)
    assert str(refused.value).startswith(f"{stage}: ")


def test_resolve_records_the_plan_for_the_later_stages(tmp_path):
    from pipeline.sessions.splits import SplitParams

    params, chosen = split_plan.resolve(SplitParams(cutoff="2016-02-01", train_sessions=20, test_sessions=5), {}, None)
    assert (params.cutoff, chosen["validation_sessions"]) == ("2016-02-01", 5)
    assert chosen["stages"]["behaviour"].startswith("20 sessions a user")
    with pytest.raises(split_plan.PlanError, match="^validation_split: 30 validation sessions"):
        split_plan.resolve(SplitParams(cutoff="2016-02-01", train_sessions=20, test_sessions=5), {}, None, 30)
