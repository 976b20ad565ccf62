"""Consent rules: what holds before any answer, and any sequence of answers keeps the record coherent
(the same invariant the consents table checks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import consent


def test_defaults_hold_until_the_human_answers() -> None:
    assert consent.holds("location_on_evidence", None) is True
    assert consent.holds("contact_for_missions", None) is False
    with pytest.raises(ValueError, match="unknown consent purpose"):
        consent.holds("sell_my_data", None)


@given(answers=st.lists(st.tuples(st.booleans(), st.sampled_from(["2026-01-01", "2026-12-01"])), max_size=12),
       purpose=st.sampled_from(sorted(consent.PURPOSES)))
def test_any_sequence_of_answers_keeps_the_record_coherent(answers: list[tuple[bool, str]], purpose: str) -> None:
    record: consent.ConsentRecord | None = None
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for step, (grant, version) in enumerate(answers):
        at = now + timedelta(minutes=step + 1)
        updated = consent.change(record, purpose, grant=grant, policy_version=version, source="api", now=at)
        if updated is None:
            # nothing changes only when the same answer is given to the same policy
            assert record is not None and record.granted == grant and record.policy_version == version
            continue
        record = updated
        assert consent.holds(purpose, record) is grant
        granted_at, withdrawn_at = record.granted_at, record.withdrawn_at
        assert record.granted == (granted_at is not None and (withdrawn_at is None or withdrawn_at < granted_at))
        assert (granted_at if grant else withdrawn_at) == at  # the latest answer is dated now
