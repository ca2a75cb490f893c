"""The champion gate, case by case."""

from pipeline.serving.promotion import Validation, decide


def test_the_champion_moves_only_for_a_version_that_beats_popularity_and_the_comparable_champion():
    moved, why = decide(Validation(None, 0.1, "d"), None)
    assert not moved and "skipgram_tuning" in why
    assert not decide(Validation(0.10, 0.10, "d"), None)[0]  # a tie with popularity is not a win
    assert decide(Validation(0.11, 0.10, "d"), None)[0]  # no champion yet
    assert not decide(Validation(0.11, 0.10, "d"), Validation(0.12, 0.10, "d"))[0]  # the champion is better
    assert not decide(Validation(0.12, 0.10, "d"), Validation(0.12, 0.10, "d"))[0]  # a tie keeps the champion
    assert decide(Validation(0.13, 0.10, "d"), Validation(0.12, 0.10, "d"))[0]
    moved, why = decide(Validation(0.11, 0.10, "new"), Validation(0.30, 0.10, "old"))  # other data: not comparable
    assert moved and "not comparable" in why
