"""Validator scores against ground truth, tier promotion and demotion, ground-truth precedence."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.consensus import Decision, Tier, Verdict
from chalicelib.domain.tiers import Scores, earned_tier, ground_truth, next_tier, score

TIERS: tuple[Tier, ...] = get_args(Tier)
CORRECT_APPROVAL: tuple[Decision, Verdict] = ("approve", "approved")
MISSED: tuple[Decision, Verdict] = ("approve", "rejected")
CAUGHT: tuple[Decision, Verdict] = ("reject", "rejected")
pairs = st.lists(st.tuples(st.sampled_from(get_args(Decision)), st.sampled_from(get_args(Verdict))), max_size=250)
f1s = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


# --- score ------------------------------------------------------------------------------


def test_positive_class_is_should_not_be_published() -> None:
    # 3 bad items caught (one as a flag, one flagged by truth), 1 missed, 2 good items rejected,
    # 4 good items approved: precision 3/5, recall 3/4, F1 6/9
    history: list[tuple[Decision, Verdict]] = [
        ("reject", "rejected"),
        ("flag", "rejected"),
        ("reject", "flagged"),
        ("approve", "rejected"),
        ("reject", "approved"),
        ("flag", "approved"),
        *[CORRECT_APPROVAL] * 4,
    ]
    result = score(history)
    assert result.n == 10
    assert result.precision == pytest.approx(3 / 5)
    assert result.recall == pytest.approx(3 / 4)
    assert result.f1 == pytest.approx(2 / 3)


def test_only_the_last_100_evaluations_count() -> None:
    history = [MISSED] * 50 + [CAUGHT] * 100
    assert score(history) == Scores(1.0, 1.0, 1.0, 100)


def test_zero_divisions() -> None:
    assert score([]) == Scores(0.0, 0.0, 0.0, 0)
    # nothing bad to catch and nothing rejected: no mistake made
    assert score([CORRECT_APPROVAL] * 5) == Scores(1.0, 1.0, 1.0, 5)
    # bad content approved: nothing caught
    assert score([("approve", "rejected"), ("approve", "approved")]) == Scores(0.0, 0.0, 0.0, 2)
    # good content rejected: every rejection wrong
    assert score([("reject", "approved"), ("approve", "approved")]) == Scores(0.0, 0.0, 0.0, 2)


@given(pairs)
def test_scores_are_bounded_and_f1_is_the_harmonic_mean(history: list[tuple[Decision, Verdict]]) -> None:
    result = score(history)
    assert result.n == min(len(history), 100)
    assert all(0.0 <= x <= 1.0 for x in (result.precision, result.recall, result.f1))
    if result.precision > 0 and result.recall > 0:
        harmonic = 2 * result.precision * result.recall / (result.precision + result.recall)
        assert result.f1 == pytest.approx(harmonic)


# --- tiers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f1", "evaluations", "tier"),
    [
        (0.85, 49, "apprentice"),
        (0.8499, 50, "apprentice"),
        (0.85, 50, "journeyman"),
        (0.95, 199, "journeyman"),
        (0.9199, 200, "journeyman"),
        (0.92, 200, "expert"),
    ],
)
def test_promotion_thresholds(f1: float, evaluations: int, tier: Tier) -> None:
    assert next_tier("apprentice", f1, evaluations, evaluations) == tier


def test_promotion_needs_no_waiting_after_a_change() -> None:
    assert next_tier("journeyman", 0.93, 250, 0) == "expert"


@pytest.mark.parametrize(
    ("current", "f1", "since_change", "tier"),
    [
        ("journeyman", 0.84, 29, "journeyman"),
        ("journeyman", 0.84, 30, "apprentice"),
        ("expert", 0.91, 29, "expert"),
        ("expert", 0.91, 30, "journeyman"),
        ("expert", 0.50, 30, "apprentice"),
        ("expert", 0.92, 500, "expert"),
        ("journeyman", 0.85, 500, "journeyman"),
    ],
)
def test_demotion_waits_30_evaluations_since_the_last_change(
    current: Tier, f1: float, since_change: int, tier: Tier
) -> None:
    assert next_tier(current, f1, 1_000, since_change) == tier


@given(
    st.sampled_from(TIERS),
    f1s,
    st.integers(min_value=0, max_value=1_000),
    st.integers(min_value=0, max_value=29),
)
def test_no_demotion_within_30_evaluations_of_a_change(current: Tier, f1: float, evaluations: int, since: int) -> None:
    new = next_tier(current, f1, evaluations, since)
    assert TIERS.index(new) >= TIERS.index(current)


@given(
    st.sampled_from(TIERS),
    f1s,
    st.integers(min_value=0, max_value=1_000),
    st.integers(min_value=0, max_value=1_000),
)
def test_the_next_tier_is_the_current_or_the_earned_one(current: Tier, f1: float, evaluations: int, since: int) -> None:
    assert next_tier(current, f1, evaluations, since) in (current, earned_tier(f1, evaluations))


def test_a_validator_hovering_at_the_threshold_does_not_flap() -> None:
    tier: Tier = "apprentice"
    since = changes = 0
    for evaluation in range(1, 301):
        f1 = 0.86 if evaluation % 2 else 0.84  # crosses 0.85 on every evaluation
        since += 1
        new = next_tier(tier, f1, evaluation, since)
        if new != tier:
            tier, since, changes = new, 0, changes + 1
    # up at 51, then at most one demotion and one promotion per 30 evaluations
    assert changes <= 1 + 2 * (300 - 50) // 30


# --- ground truth -----------------------------------------------------------------------


def test_ground_truth_prefers_admin_then_spot_check_then_layer_b() -> None:
    assert ground_truth("approved", "rejected", "flagged") == "approved"
    assert ground_truth(None, "rejected", "approved") == "rejected"
    assert ground_truth(None, None, "flagged") == "flagged"
    assert ground_truth(None, None, None) is None
