"""The gate of the alias ``champion`` of a registered model: it moves to a new version only when that version
beats popularity on the validation split and beats the current champion where the two are comparable.

A score is the mean of Experiment 1 and Experiment 2 recall@k (``pipeline.evaluation.tuning``) of a model *trained on the
fit part* and scored on the validation part: the ALS point ``als_tuning`` chose, and, for the latent space, the
skip-gram point ``skipgram_tuning`` chose, which ``embedding_uss`` then trains with (so the proposed space has a
score only when that asset is enabled; without one it is registered but never promoted). Never test: promoting on
test would tune on it. Two scores are comparable when they were measured on the same validation data (the same file digest); a
champion validated on other data (last week's log) does not block a version that beats popularity on this one.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAMPION = "champion"


@dataclass(frozen=True)
class Validation:
    """A model version's validation record: its score (None: not measured), popularity's on the same data, the data's digest."""

    score: float | None
    popularity: float
    data: str


def decide(candidate: Validation, champion: Validation | None) -> tuple[bool, str]:
    """(whether ``candidate`` becomes the champion, why), by the gate of the module docstring."""
    if candidate.score is None:
        return False, "no validation score (for the latent space, enable skipgram_tuning: it trains on the fit part)"
    if candidate.score <= candidate.popularity:
        return False, f"validation score {candidate.score:.4f} does not beat popularity's {candidate.popularity:.4f}"
    if champion is None or champion.score is None:
        return True, f"validation score {candidate.score:.4f} beats popularity's {candidate.popularity:.4f}; no champion yet"
    if champion.data != candidate.data:
        return True, (f"validation score {candidate.score:.4f} beats popularity's {candidate.popularity:.4f}; the champion was "
                      "validated on other data, so its score is not comparable")
    if candidate.score <= champion.score:
        return False, f"validation score {candidate.score:.4f} does not beat the champion's {champion.score:.4f}"
    return True, f"validation score {candidate.score:.4f} beats the champion's {champion.score:.4f} and popularity's {candidate.popularity:.4f}"
