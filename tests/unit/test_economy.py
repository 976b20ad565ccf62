"""Pure rules of the credit economy: costs, rewards, hardship and the economic health alerts."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import economy
from chalicelib.domain.economy import HealthFigures, health_alerts
from chalicelib.domain.money import MILLI

KINDS = st.sampled_from(["problem", "solution", "debate"])
TIERS = st.sampled_from(["apprentice", "journeyman", "expert"])
MULTIPLIERS = st.floats(min_value=0, max_value=5, allow_nan=False, allow_infinity=False)


# --- costs and rewards (defect 5: amounts are whole millicredits, never truncated floats) -----------

@settings(max_examples=300)
@given(KINDS, MULTIPLIERS)
def test_a_submission_always_costs_a_whole_number_of_millicredits_and_at_least_one_credit(
    kind: str, multiplier: float
) -> None:
    cost = economy.submission_cost(kind, multiplier)
    assert type(cost) is int
    assert cost >= 1 * MILLI


@settings(max_examples=300)
@given(KINDS, MULTIPLIERS, MULTIPLIERS)
def test_cost_never_decreases_when_the_multiplier_grows(kind: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert economy.submission_cost(kind, low) <= economy.submission_cost(kind, high)


@settings(max_examples=300)
@given(KINDS, MULTIPLIERS)
def test_cost_is_the_base_times_the_multiplier_to_the_nearest_millicredit(kind: str, multiplier: float) -> None:
    exact = Decimal(economy.BASE_COST[kind]) * Decimal(str(multiplier))
    cost = economy.submission_cost(kind, multiplier)
    assert cost == MILLI or abs(Decimal(cost) - exact) <= Decimal("0.5")


def test_base_costs_and_the_floor_of_one_credit() -> None:
    assert economy.submission_cost("problem", 1.0) == 2_000
    assert economy.submission_cost("solution", 1.0) == 5_000
    assert economy.submission_cost("debate", 1.0) == 1_000
    assert economy.submission_cost("debate", 0.5) == 1_000  # 0.5 credit would be below the floor
    assert economy.submission_cost("problem", 0) == 1_000
    assert economy.submission_cost("debate", 1.5) == 1_500  # a fractional credit, kept exactly
    assert economy.submission_cost("solution", 1.1) == 5_500  # 1.1 means 1.1, not 1.1000000000000000888
    assert economy.submission_cost("solution", 5) == 25_000


def test_rewards_by_tier_are_half_three_quarters_and_one_credit() -> None:
    assert [economy.validation_reward(t, 1.0) for t in ("apprentice", "journeyman", "expert")] == [500, 750, 1000]
    assert economy.validation_reward("apprentice", 1.5) == 750
    assert economy.validation_reward("journeyman", 0.333) == 250  # 249.75 rounds to 250
    assert economy.validation_reward("expert", 0) == 0


@settings(max_examples=200)
@given(TIERS, MULTIPLIERS, MULTIPLIERS)
def test_rewards_are_whole_millicredits_and_monotone_in_the_multiplier(tier: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    r_low, r_high = economy.validation_reward(tier, low), economy.validation_reward(tier, high)
    assert type(r_low) is int and 0 <= r_low <= r_high


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf")])
def test_a_multiplier_that_is_negative_or_not_finite_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        economy.submission_cost("problem", bad)
    with pytest.raises(ValueError):
        economy.validation_reward("expert", bad)


# --- hardship -----------------------------------------------------------------------------------

def test_hardship_is_strictly_below_ten_credits() -> None:
    assert economy.in_hardship(9_999)
    assert not economy.in_hardship(10_000)  # exactly 10.000 pays
    assert not economy.in_hardship(10_001)
    assert economy.in_hardship(0)


@given(st.integers(min_value=0, max_value=10**12))
def test_hardship_boundary_for_any_balance(balance: int) -> None:
    assert economy.in_hardship(balance) == (balance < 10 * MILLI)


# --- economic health ----------------------------------------------------------------------------

def figures(faucet: int = 0, sink: int = 0, hardship: int = 0, total: int = 100, grants: int = 0) -> HealthFigures:
    return HealthFigures(faucet=faucet, starter_grants=grants, sink=sink, active_agents=1, agents_total=total,
                         hardship_agents=hardship, median_balance=50_000)


def rules(alerts: list[economy.EconomyAlert]) -> set[str]:
    return {a.rule for a in alerts}


def test_ratio_is_exact_and_undefined_without_sink() -> None:
    assert economy.faucet_sink_ratio(2, 3) == Fraction(2, 3)
    assert economy.faucet_sink_ratio(5, 0) is None
    assert economy.ratio_state(5, 0) == "no_sink"
    assert economy.ratio_state(0, 0) == "idle"
    assert economy.ratio_state(0, 7) == "defined"


@pytest.mark.parametrize(("faucet", "sink", "alert"), [
    (700, 1000, False),  # exactly 0.70 is inside the band
    (699, 1000, True),
    (1300, 1000, False),  # exactly 1.30 is inside the band
    (1301, 1000, True),
    (1000, 1000, False),
    (0, 1000, True),  # all sink, nothing paid back
    (5, 0, True),  # a faucet with no sink at all: unbounded ratio
    (0, 0, False),  # nothing moved: no ratio, nothing to say
])
def test_ratio_band_is_compared_exactly(faucet: int, sink: int, alert: bool) -> None:
    assert ("economy_ratio_out_of_band" in rules(health_alerts(figures(faucet, sink)))) == alert


def test_starter_grants_never_count_as_faucet() -> None:
    # A window full of registrations and balanced rewards and fees is healthy (defect 12).
    assert health_alerts(figures(faucet=1000, sink=1000, grants=5_000_000)) == []


@pytest.mark.parametrize(("hardship", "total", "alert"), [(15, 100, False), (16, 100, True), (3, 20, False),
                                                          (4, 20, True), (0, 0, False)])
def test_hardship_alert_is_strictly_above_fifteen_percent(hardship: int, total: int, alert: bool) -> None:
    found = "economy_hardship_rate" in rules(health_alerts(figures(1000, 1000, hardship, total)))
    assert found == alert


def test_three_days_running_below_half_is_critical() -> None:
    starving = [(40, 100), (10, 100), (49, 100)]
    alerts = health_alerts(figures(1000, 1000), starving)
    assert [(a.rule, a.severity) for a in alerts] == [("economy_ratio_low_3_days", "critical")]


@pytest.mark.parametrize("days", [
    [(40, 100), (50, 100), (10, 100)],  # one day at exactly 0.50 breaks the run
    [(40, 100), (0, 0), (10, 100)],  # an idle day has no ratio: the run is broken
    [(40, 100), (10, 100)],  # two days only
    [(10, 100), (10, 100), (10, 100), (90, 100)],  # the last day recovered
])
def test_three_days_rule_needs_three_consecutive_defined_low_days(days: list[tuple[int, int]]) -> None:
    assert "economy_ratio_low_3_days" not in rules(health_alerts(figures(1000, 1000), days))


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_the_band_alert_agrees_with_the_exact_ratio(faucet: int, sink: int) -> None:
    fired = "economy_ratio_out_of_band" in rules(health_alerts(figures(faucet, sink)))
    if sink == 0:
        assert fired == (faucet > 0)
    else:
        assert fired == (not Fraction(7, 10) <= Fraction(faucet, sink) <= Fraction(13, 10))


def test_rounded_is_half_even_to_four_places() -> None:
    assert economy.rounded(Fraction(2, 3)) == Decimal("0.6667")
    assert economy.rounded(Fraction(1, 20000)) == Decimal("0.0000")  # 0.00005 -> even
    assert economy.rounded(Fraction(3, 20000)) == Decimal("0.0002")  # 0.00015 -> even
