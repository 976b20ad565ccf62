"""The compliance score: max(0, 100 - 10 x blocks - 3 x overturns - 1 x flags), compliant from 60."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.compliance import THRESHOLD, ComplianceCounts, counts_as_flag, is_compliant, score

counts_st = st.integers(min_value=0, max_value=10_000)
FIELDS = ("layer_a_blocks", "admin_overturns", "flags")


@given(counts_st, counts_st, counts_st)
def test_the_score_stays_within_0_and_100(blocks: int, overturns: int, flags: int) -> None:
    assert 0 <= score(ComplianceCounts(blocks, overturns, flags)) <= 100


@given(counts_st, counts_st, counts_st, st.sampled_from(FIELDS), st.integers(min_value=1, max_value=50))
def test_more_of_any_count_never_raises_the_score(
    blocks: int, overturns: int, flags: int, field: str, extra: int
) -> None:
    before = ComplianceCounts(blocks, overturns, flags)
    bumped = {**{f: getattr(before, f) for f in FIELDS}, field: getattr(before, field) + extra}
    assert score(ComplianceCounts(**bumped)) <= score(before)


@given(counts_st, counts_st, counts_st)
def test_the_score_is_the_designed_formula(blocks: int, overturns: int, flags: int) -> None:
    assert score(ComplianceCounts(blocks, overturns, flags)) == max(0, 100 - 10 * blocks - 3 * overturns - flags)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (ComplianceCounts(), 100),
        (ComplianceCounts(layer_a_blocks=1), 90),
        (ComplianceCounts(admin_overturns=1), 97),
        (ComplianceCounts(flags=1), 99),
        (ComplianceCounts(layer_a_blocks=4), 60),
        (ComplianceCounts(layer_a_blocks=3, admin_overturns=3, flags=2), 59),
        (ComplianceCounts(layer_a_blocks=11), 0),
    ],
)
def test_worked_examples(counts: ComplianceCounts, expected: int) -> None:
    assert score(counts) == expected


def test_sixty_keeps_the_peer_path_fifty_nine_loses_it() -> None:
    assert THRESHOLD == 60
    assert is_compliant(60) and is_compliant(100)
    assert not is_compliant(59) and not is_compliant(0)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_counts_are_non_negative_integers(bad: Any) -> None:
    with pytest.raises(ValueError):
        ComplianceCounts(flags=bad)


# --- which Layer B flags count ------------------------------------------------------------------


def verdict(score_: float, harm: float = 0.05, *, decision: str = "flagged", trust: str = "verified",
            thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "decision": decision,
        "trust": trust,
        "assessment": {
            "aligned_domain": "food_security", "alignment_score": score_, "harm_risk": harm,
            "feasibility": 0.5, "quality": 0.5, "reasoning": "test",
        },
    }
    if thresholds is not None:
        entry["thresholds"] = thresholds
    return entry


def test_a_mid_score_flag_counts() -> None:
    assert counts_as_flag(verdict(0.55))


def test_a_harm_warning_flag_counts() -> None:
    assert counts_as_flag(verdict(0.9, harm=0.65))


def test_a_flag_only_because_the_agent_is_new_does_not_count() -> None:
    assert not counts_as_flag(verdict(0.9, trust="new"))
    assert counts_as_flag(verdict(0.5, trust="new"))  # the content itself was borderline


def test_a_flag_because_layer_b_failed_or_the_budget_was_spent_does_not_count() -> None:
    failed = {"decision": "flagged", "assessment": None, "error": "budget_exhausted: spent"}
    assert not counts_as_flag(failed)


def test_approvals_and_rejections_are_not_flags() -> None:
    assert not counts_as_flag(verdict(0.9, decision="approved"))
    assert not counts_as_flag(verdict(0.1, decision="rejected"))


def test_the_thresholds_in_force_at_the_time_decide_what_counts() -> None:
    strict = {"approve": 0.95, "flag": 0.4, "harm_warn": 0.6, "harm_block": 0.8, "overrides": ["food_security"]}
    assert counts_as_flag(verdict(0.9, thresholds=strict))
    assert not counts_as_flag(verdict(0.9))


def test_a_malformed_stored_assessment_is_not_counted() -> None:
    entry = verdict(0.5)
    entry["assessment"]["alignment_score"] = 7
    assert not counts_as_flag(entry)
