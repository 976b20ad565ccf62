"""Decision gates, the go/no-go and shadow agreement: boundaries and invariants."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import gates
from chalicelib.domain.routing import shadow_agrees, spot_check_agrees

ratios = st.fractions(min_value=0, max_value=3, max_denominator=1000)
latencies = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200)


# --- percentile and rate --------------------------------------------------------------------


@given(latencies, st.floats(min_value=0.1, max_value=100))
def test_a_percentile_is_one_of_the_values_within_their_range(values: list[float], q: float) -> None:
    p = gates.percentile(values, q)
    assert p in values and min(values) <= p <= max(values)


@given(latencies, st.floats(min_value=0.1, max_value=100), st.floats(min_value=0.1, max_value=100))
def test_a_percentile_never_decreases_with_q(values: list[float], q1: float, q2: float) -> None:
    low, high = sorted((q1, q2))
    assert gates.percentile(values, low) <= gates.percentile(values, high)  # type: ignore[operator]


def test_percentile_of_nothing_is_unknown_and_q_must_be_a_percentage() -> None:
    assert gates.percentile([], 95) is None
    assert gates.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    with pytest.raises(ValueError):
        gates.percentile([1.0], 0)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_a_rate_is_exact(part: int, whole: int) -> None:
    if part > whole:
        with pytest.raises(ValueError):
            gates.rate(part, whole)
    else:
        assert gates.rate(part, whole) == Fraction(part, whole)


# --- the production-shift gates -------------------------------------------------------------


@given(st.integers(min_value=0, max_value=100))
def test_traffic_gate_is_met_from_fifty_percent(pct: int) -> None:
    assert (gates.traffic_gate(pct).state == "met") == (pct >= 50)


def test_false_negatives_below_three_percent_for_seven_days() -> None:
    assert gates.false_negative_gate(2, 100, 7.0).state == "met"
    assert gates.false_negative_gate(3, 100, 7.0).state == "not_met"  # 3 % is not below 3 %
    assert gates.false_negative_gate(0, 100, 3.0).state == "unknown"  # not 7 days of evidence yet
    assert gates.false_negative_gate(5, 100, 3.0).state == "not_met"  # already failing
    assert gates.false_negative_gate(0, 0, 7.0).state == "unknown"


@given(st.lists(st.one_of(st.none(), ratios), max_size=10))
def test_economy_gate_never_passes_on_missing_days_and_fails_on_any_day_out_of_range(
    days: list[Fraction | None],
) -> None:
    gate = gates.economy_gate(days)
    window = days[:7]
    known = [d for d in window if d is not None]
    if any(not Fraction(7, 10) <= d <= Fraction(13, 10) for d in known):
        assert gate.state == "not_met"
    elif len(known) < 7:
        assert gate.state == "unknown"
    else:
        assert gate.state == "met"


def test_economy_gate_boundaries_are_inclusive() -> None:
    assert gates.economy_gate([Fraction(7, 10), Fraction(13, 10)] * 4).state == "met"
    assert gates.economy_gate([Fraction(131, 100)] + [Fraction(1)] * 6).state == "not_met"
    no_sink = gates.economy_gate([gates.NO_SINK] + [Fraction(1)] * 6)
    assert no_sink.state == "not_met" and no_sink.value is None


def test_pool_latency_and_hardship_gates() -> None:
    assert gates.pool_gate(50).state == "met" and gates.pool_gate(49).state == "not_met"
    assert gates.consensus_latency_gate(14_999, 10).state == "met"
    assert gates.consensus_latency_gate(15_000, 10).state == "not_met"
    assert gates.consensus_latency_gate(None, 0).state == "unknown"
    assert gates.hardship_gate(14, 100).state == "met" and gates.hardship_gate(15, 100).state == "not_met"
    assert gates.hardship_gate(0, 0).state == "unknown"


def test_a_report_is_all_met_only_when_every_gate_is_met() -> None:
    met = gates.traffic_gate(100)
    unknown = gates.consensus_latency_gate(None, 0)
    assert gates.GateReport((met, met)).all_met
    assert not gates.GateReport((met, unknown)).all_met


# --- go / no-go ---------------------------------------------------------------------------------

GOOD = {
    "agreements": 90, "comparisons": 100, "average_f1": Fraction(85, 100), "response_rate": Fraction(3, 4),
    "quorum_timeouts": 5, "consensus_rounds": 100, "active_validators": 60, "dead_letters": 0,
}


def test_go_when_every_criterion_is_met() -> None:
    assert gates.go_no_go(**GOOD).verdict == "go"  # type: ignore[arg-type]


@pytest.mark.parametrize("change", [
    {"agreements": 69}, {"quorum_timeouts": 21}, {"active_validators": 9},
])
def test_no_go_when_a_no_go_criterion_fails(change: dict[str, int]) -> None:
    assert gates.go_no_go(**{**GOOD, **change}).verdict == "no_go"  # type: ignore[arg-type]


@pytest.mark.parametrize("change", [
    {"agreements": 75}, {"average_f1": Fraction(79, 100)}, {"response_rate": None}, {"dead_letters": 1},
    {"comparisons": 0, "agreements": 0},
])
def test_undecided_between_go_and_no_go(change: dict[str, object]) -> None:
    assert gates.go_no_go(**{**GOOD, **change}).verdict == "undecided"  # type: ignore[arg-type]


@given(st.integers(0, 200), st.integers(0, 200), st.integers(0, 100), st.integers(0, 100), st.integers(0, 80))
def test_go_no_go_verdicts_are_exclusive_and_follow_the_criteria(
    agreements: int, extra: int, timeouts: int, rounds_extra: int, pool: int
) -> None:
    result = gates.go_no_go(
        agreements=agreements, comparisons=agreements + extra, average_f1=Fraction(9, 10),
        response_rate=Fraction(9, 10), quorum_timeouts=timeouts, consensus_rounds=timeouts + rounds_extra,
        active_validators=pool, dead_letters=0)
    failed_no_go = any(g.state == "not_met" for g in result.no_go)
    all_met = all(g.state == "met" for g in (*result.go, *result.no_go))
    assert result.verdict == ("no_go" if failed_no_go else "go" if all_met else "undecided")


# --- shadow agreement -------------------------------------------------------------------------


@given(st.sampled_from(["approved", "rejected"]), st.sampled_from(["approved", "rejected", "flagged"]))
def test_shadow_agreement_matches_the_spot_check_rule_for_decided_outcomes(peer: str, layer_b: str) -> None:
    assert shadow_agrees(peer, layer_b) == spot_check_agrees(peer, layer_b)[0]  # type: ignore[arg-type]


def test_an_escalation_agrees_only_with_a_flag() -> None:
    assert shadow_agrees("escalated", "flagged")
    assert not shadow_agrees("escalated", "approved") and not shadow_agrees("escalated", "rejected")
    with pytest.raises(ValueError):
        shadow_agrees("maybe", "approved")  # type: ignore[arg-type]
