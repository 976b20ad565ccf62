"""Layer B's pure rules: the assessment model, the verdict by trust tier, and call costs."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.layer_b import (
    DOMAINS,
    FORBIDDEN_CATEGORIES,
    VERDICT_RANK,
    ZERO_USAGE,
    Assessment,
    ClassifierResult,
    Thresholds,
    Usage,
    decide,
)
from chalicelib.domain.pricing import PRICES, cost_usd_micros, price_for

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
trusts = st.sampled_from(["new", "verified"])


def assessment(score: float = 0.8, harm: float = 0.05, **overrides: Any) -> Assessment:
    data: dict[str, object] = {
        "aligned_domain": "food_security",
        "alignment_score": score,
        "harm_risk": harm,
        "feasibility": 0.6,
        "quality": 0.7,
        "reasoning": "Concrete plan for a community food bank.",
    }
    data.update(overrides)
    return Assessment.model_validate(data)


@st.composite
def thresholds(draw: st.DrawFn) -> Thresholds:
    flag, approve = sorted((draw(scores), draw(scores)))
    warn, block = sorted((draw(scores), draw(scores)))
    return Thresholds(approve=approve, flag=flag, harm_warn=warn, harm_block=block)


# --- vocabulary -----------------------------------------------------------------------------


def test_the_fifteen_domains_and_twelve_forbidden_categories_of_the_design() -> None:
    assert len(DOMAINS) == len(set(DOMAINS)) == 15
    assert DOMAINS[0] == "poverty_reduction" and DOMAINS[-1] == "elder_care"
    assert {"clean_water_sanitation", "mental_health_wellbeing", "digital_inclusion"} <= set(DOMAINS)
    assert len(FORBIDDEN_CATEGORIES) == len(set(FORBIDDEN_CATEGORIES)) == 12
    assert {"pseudo_science", "labour_exploitation", "hate_speech", "deepfakes"} <= set(FORBIDDEN_CATEGORIES)


# --- the assessment model -------------------------------------------------------------------


def test_an_assessment_accepts_the_closed_interval_bounds() -> None:
    low = assessment(score=0.0, harm=0.0, feasibility=0, quality=1)
    assert low.alignment_score == 0.0 and low.quality == 1.0


@pytest.mark.parametrize(
    "overrides",
    [
        {"aligned_domain": "astrology"},
        {"alignment_score": 1.0001},
        {"harm_risk": -0.1},
        {"feasibility": math.nan},
        {"quality": math.inf},
        {"alignment_score": "0.9"},  # strict: the tool must send numbers
        {"alignment_score": True},
        {"reasoning": "   "},
        {"reasoning": "x" * 2001},
        {"verdict": "approve"},  # extra fields are forbidden
    ],
)
def test_an_assessment_refuses_values_outside_the_schema(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        assessment(**overrides)


def test_an_assessment_needs_every_field() -> None:
    with pytest.raises(ValidationError):
        Assessment.model_validate({"aligned_domain": "elder_care", "alignment_score": 0.9})


# --- decide -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, "approved"),
        (0.70, "approved"),
        (0.6999, "flagged"),
        (0.40, "flagged"),
        (0.3999, "rejected"),
        (0.0, "rejected"),
    ],
)
def test_a_verified_agent_is_decided_by_the_score_at_the_exact_boundaries(
    score: float, expected: str
) -> None:
    assert decide(assessment(score=score), "verified") == expected


@pytest.mark.parametrize(("score", "expected"), [(0.99, "flagged"), (0.40, "flagged"), (0.3999, "rejected")])
def test_a_new_agent_goes_to_human_review_unless_rejected(score: float, expected: str) -> None:
    assert decide(assessment(score=score), "new") == expected


@pytest.mark.parametrize("trust", ["new", "verified"])
def test_a_missing_assessment_goes_to_human_review_never_approval(trust: str) -> None:
    assert decide(None, trust) == "flagged"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("harm", "trust", "expected"),
    [
        (0.80, "verified", "rejected"),  # block, whatever the score
        (0.80, "new", "rejected"),
        (0.7999, "verified", "flagged"),  # warn: never approved
        (0.60, "verified", "flagged"),
        (0.5999, "verified", "approved"),
    ],
)
def test_harm_risk_warns_at_060_and_blocks_at_080(harm: float, trust: str, expected: str) -> None:
    assert decide(assessment(score=0.95, harm=harm), trust) == expected  # type: ignore[arg-type]


def test_operators_can_move_the_thresholds() -> None:
    strict = Thresholds(approve=0.9, flag=0.5)
    assert decide(assessment(score=0.85), "verified", strict) == "flagged"
    assert decide(assessment(score=0.45), "verified", strict) == "rejected"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"approve": 0.3, "flag": 0.5},
        {"harm_warn": 0.9, "harm_block": 0.8},
        {"approve": 1.5},
        {"flag": math.nan},
    ],
)
def test_inconsistent_thresholds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Thresholds(**kwargs)


@given(low=scores, high=scores, harm=scores, trust=trusts, limits=thresholds())
def test_a_higher_alignment_score_never_gives_a_worse_verdict(
    low: float, high: float, harm: float, trust: str, limits: Thresholds
) -> None:
    low, high = sorted((low, high))
    worse = decide(assessment(score=low, harm=harm), trust, limits)  # type: ignore[arg-type]
    better = decide(assessment(score=high, harm=harm), trust, limits)  # type: ignore[arg-type]
    assert VERDICT_RANK[better] >= VERDICT_RANK[worse]


@given(score=scores, low=scores, high=scores, trust=trusts, limits=thresholds())
def test_a_higher_harm_risk_never_gives_a_better_verdict(
    score: float, low: float, high: float, trust: str, limits: Thresholds
) -> None:
    low, high = sorted((low, high))
    safer = decide(assessment(score=score, harm=low), trust, limits)  # type: ignore[arg-type]
    riskier = decide(assessment(score=score, harm=high), trust, limits)  # type: ignore[arg-type]
    assert VERDICT_RANK[riskier] <= VERDICT_RANK[safer]


@given(score=scores, harm=scores, limits=thresholds())
def test_a_new_agent_never_fares_better_than_a_verified_one(
    score: float, harm: float, limits: Thresholds
) -> None:
    item = assessment(score=score, harm=harm)
    assert decide(item, "new", limits) != "approved"
    assert VERDICT_RANK[decide(item, "new", limits)] <= VERDICT_RANK[decide(item, "verified", limits)]


# --- cost -------------------------------------------------------------------------------------


def test_a_haiku_call_costs_its_token_counts_at_list_price() -> None:
    # $1 input, $5 output, $1.25 cache write, $0.10 cache read per million tokens.
    usage = Usage(
        input_tokens=1000, output_tokens=200, cache_creation_input_tokens=3000, cache_read_input_tokens=4000
    )
    assert cost_usd_micros("claude-haiku-4-5", usage) == 1000 + 1000 + 3750 + 400


def test_a_dated_snapshot_is_priced_like_its_alias() -> None:
    usage = Usage(123, 45, 0, 678)
    assert cost_usd_micros("claude-haiku-4-5-20251001", usage) == cost_usd_micros("claude-haiku-4-5", usage)


def test_cost_rounds_fractions_of_a_micro_dollar_up() -> None:
    assert cost_usd_micros("claude-haiku-4-5", Usage(0, 0, 0, 1)) == 1  # 0.1 micro-dollar
    assert cost_usd_micros("claude-haiku-4-5", ZERO_USAGE) == 0


def test_batches_cost_half() -> None:
    usage = Usage(1001, 0, 0, 0)
    assert cost_usd_micros("claude-haiku-4-5", usage, batch=True) == 501  # 500.5 rounded up


def test_an_unpriced_model_is_an_error_not_a_free_call() -> None:
    with pytest.raises(KeyError):
        cost_usd_micros("claude-unknown-9", Usage(10, 10, 0, 0))


@pytest.mark.parametrize("model", sorted(PRICES))
def test_cache_prices_follow_the_published_multipliers(model: str) -> None:
    price = price_for(model)
    assert price.cache_write == price.input * Decimal("1.25")
    assert price.cache_read == price.input / 10
    assert price.output > price.input > price.cache_read


counts = st.integers(min_value=0, max_value=10**7)
usages = st.builds(Usage, counts, counts, counts, counts)


@given(a=usages, b=usages, model=st.sampled_from(sorted(PRICES)))
def test_cost_is_additive_up_to_rounding_and_never_negative(a: Usage, b: Usage, model: str) -> None:
    together = cost_usd_micros(model, a + b)
    apart = cost_usd_micros(model, a) + cost_usd_micros(model, b)
    assert 0 <= together <= apart <= together + 1


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_usage_counts_are_non_negative_integers(bad: object) -> None:
    with pytest.raises(ValueError):
        Usage(bad, 0, 0, 0)  # type: ignore[arg-type]


# --- the result in the decision trail -------------------------------------------------------


def result(**overrides: object) -> ClassifierResult:
    data: dict[str, object] = {
        "assessment": assessment(),
        "classifier": "anthropic",
        "model": "claude-haiku-4-5",
        "usage": Usage(10, 20, 0, 5),
        "cost_usd_micros": 111,
        "attempts": 2,
        "latency_ms": 340,
        "error": None,
    }
    data.update(overrides)
    return ClassifierResult(**data)  # type: ignore[arg-type]


def test_a_result_round_trips_through_json_for_the_decision_trail() -> None:
    for original in (result(), result(assessment=None, error="HTTP 529 overloaded_error (attempts: 3)")):
        stored = json.loads(json.dumps(original.to_dict()))
        assert ClassifierResult.from_dict(stored) == original


def test_the_trail_says_when_the_offline_stand_in_decided() -> None:
    assert result().to_dict()["stand_in"] is False
    offline = result(classifier="offline", model="offline-naive-bayes-v2", usage=ZERO_USAGE, cost_usd_micros=0)
    assert offline.to_dict()["stand_in"] is True


@pytest.mark.parametrize("overrides", [{"error": "boom"}, {"assessment": None}, {"classifier": "gpt"}])
def test_a_result_has_an_assessment_or_an_error_and_a_known_classifier(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        result(**overrides)
