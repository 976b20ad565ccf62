"""Traffic routing, spot checks and the traffic-raise gate."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.routing import (
    RoutingInput,
    is_spot_checked,
    route,
    routing_bucket,
    spot_check_agrees,
    spot_check_bucket,
    traffic_raise_allowed,
)

submission_ids = st.text(min_size=1, max_size=40)
percentages = st.integers(min_value=0, max_value=100)
SAMPLE_IDS = [f"sub-{i:06d}" for i in range(20_000)]


def eligible(submission_id: str, pct: int, peer_enabled: bool = True) -> RoutingInput:
    return RoutingInput(
        submission_id=submission_id,
        agent_verified=True,
        is_mission=False,
        peer_enabled=peer_enabled,
        traffic_pct=pct,
    )


# --- buckets -----------------------------------------------------------------------------


def test_bucket_is_the_first_eight_hex_digits_of_sha256_mod_100() -> None:
    # SHA-256("abc") = ba7816bf8f01cfea... (FIPS 180-2 test vector)
    assert routing_bucket("abc") == 0xBA7816BF % 100 == 19
    assert spot_check_bucket("ab") == routing_bucket("abspot")


@given(submission_ids)
def test_buckets_are_deterministic_and_in_range(submission_id: str) -> None:
    assert routing_bucket(submission_id) == routing_bucket(submission_id)
    assert 0 <= routing_bucket(submission_id) < 100
    assert 0 <= spot_check_bucket(submission_id) < 100


def test_buckets_are_roughly_uniform() -> None:
    counts = Counter(routing_bucket(i) for i in SAMPLE_IDS)
    expected = len(SAMPLE_IDS) / 100
    chi_square = sum((counts[b] - expected) ** 2 / expected for b in range(100))
    # 99 degrees of freedom: mean 99, sd 14; a biased hash (e.g. mod of a small range) lands far above
    assert chi_square < 200
    assert len(counts) == 100


def test_about_five_percent_are_spot_checked_independently_of_routing() -> None:
    checked = [i for i in SAMPLE_IDS if is_spot_checked(i)]
    assert 0.04 < len(checked) / len(SAMPLE_IDS) < 0.06
    peer_routed = [i for i in SAMPLE_IDS if routing_bucket(i) < 10]
    assert 0.03 < sum(is_spot_checked(i) for i in peer_routed) / len(peer_routed) < 0.07
    assert not any(is_spot_checked(i, pct=0) for i in SAMPLE_IDS[:1000])


# --- route ------------------------------------------------------------------------------


@given(submission_ids, percentages, percentages)
def test_raising_the_percentage_never_moves_a_submission_back_to_layer_b(
    submission_id: str, low: int, high: int
) -> None:
    low, high = sorted((low, high))
    if route(eligible(submission_id, low)).path == "peer":
        assert route(eligible(submission_id, high)).path == "peer"


@given(submission_ids, percentages)
def test_route_is_deterministic_and_follows_the_bucket(submission_id: str, pct: int) -> None:
    decision = route(eligible(submission_id, pct))
    assert decision == route(eligible(submission_id, pct))
    assert decision.bucket == routing_bucket(submission_id)
    assert (decision.path == "peer") == (decision.bucket < pct)
    # Layer B decides what peers do not; peers still evaluate it in shadow
    assert decision.shadow == (decision.path == "layer_b")


@given(submission_ids)
def test_zero_percent_is_all_layer_b_and_all_shadow(submission_id: str) -> None:
    decision = route(eligible(submission_id, 0))
    assert (decision.path, decision.shadow) == ("layer_b", True)
    assert route(eligible(submission_id, 100)).path == "peer"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"peer_enabled": False}, "peer_validation_disabled"),
        ({"agent_verified": False}, "agent_not_verified"),
        ({"is_mission": True}, "mission"),
        ({"agent_compliance_ok": False}, "agent_compliance"),
    ],
)
def test_ineligible_submissions_go_to_layer_b_without_shadow(changes: dict[str, bool], reason: str) -> None:
    decision = route(replace(eligible("sub-1", 100), **changes))  # type: ignore[arg-type]
    assert (decision.path, decision.shadow, decision.reason) == ("layer_b", False, reason)


# --- spot checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "layer_b", "expected"),
    [
        ("approved", "approved", (True, None)),
        ("approved", "rejected", (False, "false_negative")),
        ("approved", "flagged", (False, "missed_flag")),
        ("rejected", "rejected", (True, None)),
        ("rejected", "flagged", (True, None)),
        ("rejected", "approved", (False, "false_positive")),
    ],
)
def test_spot_check_agreement_and_disagreement_types(
    peer: str, layer_b: str, expected: tuple[bool, str | None]
) -> None:
    assert spot_check_agrees(peer, layer_b) == expected  # type: ignore[arg-type]


def test_spot_check_refuses_unknown_values() -> None:
    with pytest.raises(ValueError):
        spot_check_agrees("escalated", "approved")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        spot_check_agrees("approved", "pending")  # type: ignore[arg-type]


# --- traffic gate -----------------------------------------------------------------------


def test_raising_with_79_percent_agreement_is_refused() -> None:
    allowed, reason = traffic_raise_allowed(10, 50, Fraction(79, 100), 100, forced=False)
    assert not allowed
    assert reason.startswith("shadow_agreement_too_low")


def test_raising_with_80_percent_agreement_over_100_comparisons_is_allowed() -> None:
    # Defect 2: the earlier gate compared this fraction with 80 and could never pass
    assert traffic_raise_allowed(0, 10, Fraction(4, 5), 100, forced=False) == (True, "shadow_agreement_ok")
    assert traffic_raise_allowed(50, 100, Fraction(1), 5_000, forced=False)[0]


def test_a_percentage_where_a_fraction_belongs_is_refused() -> None:
    # Defect 2 regression: units are checked, never silently compared
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        traffic_raise_allowed(10, 50, Fraction(85), 1_000, forced=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        traffic_raise_allowed(10, 50, Fraction(9, 10), 1_000, forced=False, min_agreement=Fraction(80))
    with pytest.raises(TypeError):
        traffic_raise_allowed(10, 50, 0.85, 1_000, forced=False)  # type: ignore[arg-type]


def test_raising_without_enough_comparisons_is_refused() -> None:
    allowed, reason = traffic_raise_allowed(0, 10, Fraction(1), 99, forced=False)
    assert not allowed
    assert reason.startswith("insufficient_evidence")
    assert not traffic_raise_allowed(0, 10, None, 0, forced=False)[0]


def test_an_operator_can_force_a_raise() -> None:
    assert traffic_raise_allowed(10, 50, Fraction(1, 2), 500, forced=True) == (True, "forced")
    assert traffic_raise_allowed(0, 10, None, 0, forced=True) == (True, "forced")


@given(
    percentages,
    percentages,
    st.none() | st.fractions(min_value=0, max_value=1),
    st.integers(min_value=0, max_value=10_000),
)
def test_lowering_is_always_allowed(a: int, b: int, agreement: Fraction | None, comparisons: int) -> None:
    current, new = max(a, b), min(a, b)
    assert traffic_raise_allowed(current, new, agreement, comparisons, forced=False)[0]


@given(
    percentages,
    percentages,
    st.fractions(min_value=0, max_value=1),
    st.integers(min_value=0, max_value=10_000),
)
def test_a_raise_needs_both_agreement_and_evidence(a: int, b: int, agreement: Fraction, comparisons: int) -> None:
    current, new = min(a, b), max(a, b)
    allowed, _ = traffic_raise_allowed(current, new, agreement, comparisons, forced=False)
    assert allowed == (new == current or (agreement >= Fraction(4, 5) and comparisons >= 100))


@pytest.mark.parametrize(("current", "new"), [(-1, 10), (0, 101), (True, 10)])
def test_percentages_outside_0_100_are_refused(current: int, new: int) -> None:
    with pytest.raises(ValueError, match="percentage"):
        traffic_raise_allowed(current, new, Fraction(1), 1_000, forced=False)
