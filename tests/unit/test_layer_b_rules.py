"""Layer B's budget, cache-key and thresholds-in-force rules, tested without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.layer_b import (
    DEFAULT_THRESHOLDS,
    DOMAINS,
    BudgetStatus,
    ClassifierInput,
    Thresholds,
    budget_day,
    cache_key,
    check_domain,
    check_purpose,
    domains_to_consult,
    effective_thresholds,
    threshold_values,
    thresholds_from,
)

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def thresholds(draw: st.DrawFn) -> Thresholds:
    flag, approve = sorted((draw(unit), draw(unit)))
    warn, block = sorted((draw(unit), draw(unit)))
    return Thresholds(approve=approve, flag=flag, harm_warn=warn, harm_block=block)


def at_least_as_strict(a: Thresholds, b: Thresholds) -> bool:
    return (a.approve >= b.approve and a.flag >= b.flag
            and a.harm_warn <= b.harm_warn and a.harm_block <= b.harm_block)


@given(domains=st.lists(st.sampled_from(DOMAINS), min_size=1, max_size=2, unique=True),
       overrides=st.dictionaries(st.sampled_from(DOMAINS), thresholds(), max_size=4))
def test_the_thresholds_in_force_are_at_least_as_strict_as_every_source(
    domains: list[str], overrides: dict[str, Thresholds]
) -> None:
    domains.sort()
    in_force = effective_thresholds(domains, overrides)
    applied = [overrides[d] for d in domains if d in overrides]
    assert in_force.overridden == tuple(d for d in domains if d in overrides)
    for source in applied:
        assert at_least_as_strict(in_force.thresholds, source)
    if len(applied) < len(domains):  # a domain without an override brings the defaults
        assert at_least_as_strict(in_force.thresholds, DEFAULT_THRESHOLDS)
    if not applied:
        assert in_force.thresholds == DEFAULT_THRESHOLDS


def test_only_known_domains_are_consulted() -> None:
    assert domains_to_consult("made_up", None) == []
    assert domains_to_consult(None, None) == []
    assert domains_to_consult("food_security", None) == ["food_security"]
    with pytest.raises(ValidationFailed):
        check_domain("made_up")


@given(thresholds())
def test_thresholds_round_trip_through_a_stored_row(t: Thresholds) -> None:
    assert thresholds_from(threshold_values(t)) == t


@given(budget=st.integers(min_value=0, max_value=10**6), spent=st.integers(min_value=0, max_value=10**11))
def test_the_budget_alerts_at_exactly_80_percent_and_stops_at_100(budget: int, spent: int) -> None:
    status = BudgetStatus(day=date(2026, 3, 1), budget_cents=budget, spent_usd_micros=spent, calls=1)
    share = Fraction(spent, status.budget_usd_micros) if budget else None
    assert status.exhausted == (share is None or share >= 1)
    assert status.alert_due == (share is not None and share >= Fraction(4, 5))


def test_the_budget_day_is_the_utc_date() -> None:
    late_in_new_york = datetime(2026, 3, 1, 22, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert budget_day(late_in_new_york) == date(2026, 3, 2)
    assert budget_day(datetime(2026, 3, 1, 23, 59, tzinfo=UTC)) == date(2026, 3, 1)


words = st.lists(st.text(alphabet="abcXYZ!é", min_size=1, max_size=6), min_size=1, max_size=5)
gaps = st.sampled_from([" ", "  ", "\t", "\n", " \u00a0"])


@given(title=words, body=words, gap=gaps)
def test_reformatted_content_hits_the_same_cache_entry(title: list[str], body: list[str], gap: str) -> None:
    plain = ClassifierInput(kind="problem", title=" ".join(title), body=" ".join(body), domain=None)
    spaced = ClassifierInput(kind="problem", title=f"{gap}{gap.join(title)}{gap}", body=gap.join(body), domain=None)
    assert cache_key(plain) == cache_key(spaced)
    assert cache_key(plain) != cache_key(ClassifierInput("problem", plain.title, plain.body, "food_security"))
    assert cache_key(plain) != cache_key(ClassifierInput("problem", plain.title.upper() + "!", plain.body, None))


@pytest.mark.parametrize("purpose", ["", "Guardrail", "spot-check", "x" * 41, "1abc"])
def test_a_malformed_purpose_is_refused(purpose: str) -> None:
    with pytest.raises(ValueError):
        check_purpose(purpose)


@given(st.integers(min_value=1, max_value=2**62))
def test_a_call_adds_to_one_valid_shard_and_the_next_call_to_another(call_id: int) -> None:
    from chalicelib.domain.layer_b import SPEND_SHARDS, spend_shard

    assert 0 <= spend_shard(call_id) < SPEND_SHARDS == 16  # the CHECK of layer_b_spend_shards
    assert spend_shard(call_id + 1) != spend_shard(call_id)
    assert {spend_shard(call_id + n) for n in range(SPEND_SHARDS)} == set(range(SPEND_SHARDS))
