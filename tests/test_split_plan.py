"""The split planner on a hand-made sessions table whose answers are counted by hand."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from pipeline import split_plan

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
