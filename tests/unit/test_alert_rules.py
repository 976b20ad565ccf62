"""The operational alert rules as pure functions: thresholds, boundaries, thin data, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import alert_rules as r

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# --- rates: strictly above the threshold fires, at the threshold does not ---------------------------


@pytest.mark.parametrize(("rule", "threshold_part", "whole", "severity"), [
    (r.false_negatives, 5, 100, "critical"),
    (r.spot_check_disagreement, 10, 100, "warning"),
    (r.quorum_failures, 5, 100, "warning"),
    (r.insufficient_validators, 10, 100, "critical"),
])
def test_a_rate_fires_only_above_its_threshold(rule, threshold_part: int, whole: int, severity: str) -> None:
    at_threshold = rule(threshold_part, whole)
    above = rule(threshold_part + 1, whole)
    assert at_threshold.state == "ok" and at_threshold.finding is None
    assert above.state == "firing"
    assert above.finding is not None and above.finding.severity == severity
    assert above.finding.details["count"] == threshold_part + 1 and above.finding.details["total"] == whole


def test_false_negatives_compare_fractions_exactly_not_percent_numbers() -> None:
    # 1 in 20 is exactly 5 %: not above it (defect 2 mixed 0.05 with 5)
    assert r.false_negatives(1, 20).state == "ok"
    assert r.false_negatives(2, 20).state == "firing"
    assert r.false_negatives(2, 20).finding.details["rate"] == pytest.approx(0.10)  # type: ignore[union-attr]


@pytest.mark.parametrize(("rule", "minimum"), [
    (r.false_negatives, r.MIN_SPOT_CHECKS),
    (r.spot_check_disagreement, r.MIN_SPOT_CHECKS),
    (r.quorum_failures, r.MIN_CONSENSUS_ROUNDS),
    (r.insufficient_validators, r.MIN_ROUTED),
])
def test_too_few_events_are_unknown_even_when_all_of_them_are_bad(rule, minimum: int) -> None:
    thin = rule(minimum - 1, minimum - 1)
    assert thin.state == "unknown" and thin.finding is None and thin.subjects == ()
    assert rule(0, 0).state == "unknown"
    assert rule(minimum, minimum).state == "firing"


@given(part=st.integers(0, 500), extra=st.integers(0, 500), more=st.integers(1, 50))
def test_more_bad_events_in_the_same_total_never_turn_a_firing_rule_off(part: int, extra: int, more: int) -> None:
    whole = part + extra + more
    before = r.quorum_failures(part, whole)
    after = r.quorum_failures(min(part + more, whole), whole)
    if before.firing:
        assert after.firing


def test_impossible_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        r.spot_check_disagreement(5, 3)


# --- latency, pool, queries, backlog ------------------------------------------------------------------


def test_consensus_p95_above_15_seconds_warns() -> None:
    fast = [1000.0] * 19 + [40_000.0]  # one slow outlier in 20 is the p100, not the p95
    assert r.consensus_latency(fast).state == "ok"
    slow = [1000.0] * 18 + [16_000.0, 17_000.0]
    check = r.consensus_latency(slow)
    assert check.firing and check.finding is not None
    assert check.finding.severity == "warning" and check.finding.details["p95_ms"] == 16_000.0
    assert r.consensus_latency([20_000.0] * 4).state == "unknown"  # fewer than 5 decisions


def test_the_validator_pool_matters_only_while_peer_validation_is_on() -> None:
    assert r.validator_pool(3, peer_validation_enabled=False).state == "ok"
    assert r.validator_pool(19, peer_validation_enabled=True).firing
    assert r.validator_pool(20, peer_validation_enabled=True).state == "ok"


@pytest.mark.parametrize(("in_use", "maximum", "expected"), [
    (6, 10, None), (7, 10, "warning"), (8, 10, "warning"), (9, 10, "critical"), (10, 10, "critical"),
    (69, 100, None), (70, 100, "warning"), (89, 100, "warning"), (90, 100, "critical"),
])
def test_database_connections_warn_from_70_and_page_from_90_percent(in_use: int, maximum: int,
                                                                    expected: str | None) -> None:
    check = r.db_pool(in_use, maximum)
    assert (check.finding.severity if check.finding else None) == expected


def test_a_process_without_a_pool_is_unknown() -> None:
    assert r.db_pool(0, 0).state == "unknown"


@pytest.mark.parametrize(("durations", "expected"), [
    ([], None), ([120.0, 499.9], None), ([500.0], "warning"), ([999.0, 600.0], "warning"),
    ([1000.0], "critical"), ([510.0, 2500.0], "critical"),
])
def test_slow_statements_warn_from_500_ms_and_page_from_1000_ms(durations: list[float], expected: str | None) -> None:
    check = r.slow_queries(durations, "SELECT 1")
    assert (check.finding.severity if check.finding else None) == expected


def test_an_outbox_stuck_for_more_than_five_minutes_warns() -> None:
    assert r.outbox_backlog(None).state == "ok"
    assert r.outbox_backlog(300).state == "ok"
    assert r.outbox_backlog(301).firing


def test_dead_letters_fire_on_growth_not_on_what_is_already_held() -> None:
    assert r.dlq_growth({"q-dlq": 4}, {"q-dlq": 4}, 0).state == "ok"
    grown = r.dlq_growth({"q-dlq": 5, "p-dlq": None}, {"q-dlq": 4}, 0)
    assert grown.firing and grown.finding is not None and grown.finding.details["grown"] == {"q-dlq": 5}
    assert r.dlq_growth({}, {}, 2).firing  # outbox messages parked in the last hour


def test_a_job_is_stalled_after_three_cadences_without_success() -> None:
    jobs = [
        r.JobHealth("fresh", 60, NOW - timedelta(seconds=170), None, 0),
        r.JobHealth("stuck", 60, NOW - timedelta(seconds=181), None, 2),
        r.JobHealth("never_ok", 60, None, NOW - timedelta(minutes=10), 10),
        r.JobHealth("never_seen", 60, None, None, 0),
    ]
    checks = {c.subjects[0] if c.subjects else c.detail: c for c in r.scheduler_stalled(jobs, NOW)}
    assert checks["scheduler_stalled:fresh"].state == "ok"
    assert checks["scheduler_stalled:stuck"].firing
    assert checks["scheduler_stalled:never_ok"].firing
    assert "never_seen: no runs recorded" in checks


def test_every_firing_check_carries_its_dedup_key_as_a_subject() -> None:
    check = r.outbox_backlog(900)
    assert check.finding is not None
    assert check.subjects == (check.finding.dedup_key,) == ("outbox_backlog",)
    assert check.finding.tier == 2
    assert r.dlq_growth({}, {}, 1).finding.tier == 1  # type: ignore[union-attr]


# --- escalation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tier", "after", "due"), [
    (1, timedelta(minutes=14, seconds=59), False), (1, timedelta(minutes=15), True),
    (2, timedelta(hours=3, minutes=59), False), (2, timedelta(hours=4), True),
    (3, timedelta(days=3), False),
])
def test_open_alerts_escalate_after_15_minutes_tier_1_and_4_hours_tier_2(tier: int, after: timedelta,
                                                                         due: bool) -> None:
    assert r.escalation_due(tier=tier, status="open", created_at=NOW, escalated_at=None, now=NOW + after) is due


def test_acknowledged_resolved_or_already_escalated_alerts_do_not_escalate() -> None:
    late = NOW + timedelta(days=1)
    assert not r.escalation_due(tier=1, status="acknowledged", created_at=NOW, escalated_at=None, now=late)
    assert not r.escalation_due(tier=1, status="resolved", created_at=NOW, escalated_at=None, now=late)
    assert not r.escalation_due(tier=1, status="open", created_at=NOW, escalated_at=NOW, now=late)


# --- Layer B failing (found by the chaos harness: a model outage raised nothing) ---------------------


def test_layer_b_errors_fire_above_a_fifth_of_the_calls_and_judge_nothing_on_fewer_than_five() -> None:
    assert r.layer_b_errors(4, 4).state == "unknown"  # too few calls to judge
    assert r.layer_b_errors(1, 5).state == "ok"  # exactly 20 %: not above
    failing = r.layer_b_errors(2, 5)
    assert failing.state == "firing" and failing.finding is not None
    assert failing.finding.severity == "critical" and failing.finding.tier == 1
    assert failing.finding.dedup_key == "layer_b_errors"


def test_layer_b_errors_fire_when_the_latest_five_calls_failed_however_many_good_ones_came_before() -> None:
    # An outage that has just begun: 5 failures after 500 good calls is 1 %, yet Layer B is down
    assert r.layer_b_errors(5, 505, latest_failed=5).firing
    assert r.layer_b_errors(5, 505, latest_failed=4).state == "ok"  # the newest call worked
    assert r.layer_b_errors(5, 5, latest_failed=5).firing


@given(errors=st.integers(min_value=0, max_value=10_000), calls=st.integers(min_value=0, max_value=10_000))
def test_layer_b_errors_fire_exactly_when_the_error_share_is_above_the_threshold(errors: int, calls: int) -> None:
    errors = min(errors, calls)
    check = r.layer_b_errors(errors, calls, latest_failed=min(errors, 4))
    if calls < r.MIN_LAYER_B_CALLS:
        assert check.state == "unknown"
    else:
        assert check.firing == (errors * 100 > 20 * calls)  # shares compared exactly, in integers


# --- runbooks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", r.RULES + r.EXTERNAL_RULES)
def test_every_alert_rule_has_a_runbook_saying_what_it_means_how_to_check_and_how_to_act(rule: str) -> None:
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "runbooks" / f"{rule}.md"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {rule}: ")
    for section in ("## What it means", "## How to check", "## How to act"):
        assert f"\n{section}\n" in text, section
    assert "roll" in text.lower()  # every page says how to roll back
