"""Validator quality: F1 against ground truth, and the tier it earns.

Positive class: "should not be published". A validator's reject or flag is a positive
prediction, an approve a negative one; ground truth "rejected" or "flagged" is positive,
"approved" negative. Recall is thus the share of bad content a validator catches, precision
the share of its rejections that were right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain.consensus import Decision, Tier, Verdict

SCORE_WINDOW = 100
JOURNEYMAN_F1 = 0.85
JOURNEYMAN_EVALUATIONS = 50
EXPERT_F1 = 0.92
EXPERT_EVALUATIONS = 200
DEMOTION_HYSTERESIS = 30

_RANK: dict[Tier, int] = {"apprentice": 0, "journeyman": 1, "expert": 2}


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    n: int


def score(pairs: Sequence[tuple[Decision, Verdict]]) -> Scores:
    """Precision, recall and F1 of the positive class over the last 100 pairs.

    ``pairs`` are (decision, ground truth), oldest first, ordered by the time the truth became
    known with a unique tie-breaker (never by a random id alone), so "the last 100" is stable.

    Zero divisions: with no pairs everything is 0 (no evidence earns nothing). With pairs but
    neither a positive truth nor a positive prediction, the validator made no mistake and every
    score is 1. Otherwise an undefined precision or recall counts as 0, and so does F1.
    """
    window = pairs[-SCORE_WINDOW:]
    tp = fp = fn = 0
    for decision, truth in window:
        predicted = decision != "approve"
        actual = truth != "approved"
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
    n = len(window)
    if n == 0:
        return Scores(0.0, 0.0, 0.0, 0)
    if tp + fp + fn == 0:
        return Scores(1.0, 1.0, 1.0, n)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn)
    return Scores(precision, recall, f1, n)


def earned_tier(f1: float, evaluations: int) -> Tier:
    """The highest tier that F1 and the number of evaluations qualify for, ignoring hysteresis."""
    if evaluations >= EXPERT_EVALUATIONS and f1 >= EXPERT_F1:
        return "expert"
    if evaluations >= JOURNEYMAN_EVALUATIONS and f1 >= JOURNEYMAN_F1:
        return "journeyman"
    return "apprentice"


def next_tier(current: Tier, f1: float, evaluations: int, evaluations_since_change: int) -> Tier:
    """The validator's tier after its latest evaluation.

    Promotion is immediate once earned (F1 >= 0.85 after 50 evaluations: journeyman; >= 0.92
    after 200: expert), possibly two steps at once. Demotion, to the tier still earned, happens
    only once 30 evaluations have passed since the last change, so a validator does not flap
    around a threshold. ``evaluations`` counts evaluations with ground truth.
    """
    earned = earned_tier(f1, evaluations)
    if _RANK[earned] > _RANK[current]:
        return earned
    if _RANK[earned] < _RANK[current] and evaluations_since_change >= DEMOTION_HYSTERESIS:
        return earned
    return current


def ground_truth(admin_verdict: Verdict | None, spot_check: Verdict | None, layer_b: Verdict | None) -> Verdict | None:
    """The best available truth about a submission: admin verdict, then spot check, then Layer B."""
    for verdict in (admin_verdict, spot_check, layer_b):
        if verdict is not None:
            return verdict
    return None
