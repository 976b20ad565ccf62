"""The late-photo alert rule: any photo past the privacy lease and one sweep fires it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import alert_rules as r


def test_no_late_photo_is_ok() -> None:
    check = r.late_photos(0, None)
    assert check.state == "ok" and check.subjects == ("late_photos",)


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_any_late_photo_fires_a_warning_naming_how_many_and_how_old(late: int, oldest: float) -> None:
    check = r.late_photos(late, oldest, ("a", "b"))
    assert check.firing and check.finding is not None
    assert check.finding.severity == "warning" and check.finding.dedup_key == "late_photos"
    assert check.finding.details == {"late": late, "oldest_waiting_s": oldest, "evidence_ids": ["a", "b"]}
    assert str(late) in check.finding.title
