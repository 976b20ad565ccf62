"""Pure rules of data-subject requests and retention: who speaks for whom, identifier replacement,
redaction of other people's ids, progress, and the two-days-running alert rule."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import privacy, retention
from chalicelib.domain.flags import FLAGS, resolve

ids = st.uuids().map(str)
roles = st.sampled_from(["agent", "human", "admin"])
kinds = st.sampled_from(["agent", "human"])


@given(role=roles, caller_id=ids, caller_owner=ids, subject_id=ids, subject_kind=kinds, owner=ids,
       same_id=st.booleans(), same_owner=st.booleans())
def test_only_the_subject_downloads_and_only_the_subject_or_an_admin_asks(  # noqa: PLR0917 - drawn by hypothesis
    role: str, caller_id: str, caller_owner: str, subject_id: str, subject_kind: str, owner: str, same_id: bool,
    same_owner: bool,
) -> None:
    caller = privacy.Caller(role, None if role == "admin" else (subject_id if same_id else caller_id),
                            None if role == "admin" else (owner if same_owner else caller_owner))
    subject = privacy.Subject(subject_id, subject_kind, owner)
    downloads = privacy.may_download(caller, subject)
    # an admin never downloads; a human only their own; an agent only an agent of its own owner
    if role == "admin":
        assert not downloads and privacy.may_request(caller, subject)
    elif role == "human":
        assert downloads == (caller.agent_id == subject_id)
    else:
        assert downloads == (subject_kind == "agent" and caller.owner_id == owner)
    # whoever downloads may also ask and read; nobody else but admins may
    assert privacy.may_request(caller, subject) == (role == "admin" or downloads)
    assert privacy.may_read(caller, subject) == privacy.may_request(caller, subject)


def test_erasure_needs_an_approval_by_someone_else() -> None:
    assert privacy.needs_approval("erase") and not privacy.needs_approval("export")
    assert not privacy.may_approve("admin:a", "admin:a") and privacy.may_approve("admin:b", "admin:a")


@given(text=st.text(), old=st.lists(st.uuids().map(str), min_size=1, max_size=4, unique=True))
def test_replace_all_leaves_no_old_identifier_and_touches_nothing_else(text: str, old: list[str]) -> None:
    mapping = {o: str(uuid.uuid4()) for o in old}
    mixed = text + "".join(f" {o} {text[:3]}" for o in old)
    replaced = privacy.replace_all(mixed, mapping)
    assert all(o not in replaced for o in old)
    # undoing the replacement gives the original text back (nothing else was changed)
    assert privacy.replace_all(replaced, {v: k for k, v in mapping.items()}) == mixed


@given(own=st.lists(st.uuids().map(str), max_size=3), foreign=st.lists(st.uuids().map(str), max_size=3),
       words=st.text(alphabet="abc xyz:", max_size=20))
def test_redaction_keeps_own_ids_and_removes_every_other(own: list[str], foreign: list[str], words: str) -> None:
    foreign = [f for f in foreign if f not in own]
    value = {"a": [words + o for o in own], "b": {"c": " ".join(foreign).upper()}, "n": 3, "t": None}
    redacted = privacy.redact_foreign_ids(value, frozenset(own))
    flat = repr(redacted).lower()
    assert all(o in flat for o in own)
    assert all(f.lower() not in flat for f in foreign)
    assert redacted["n"] == 3 and redacted["t"] is None


@given(total=st.integers(1, 50), done=st.integers(0, 60))
def test_progress_is_monotone_and_reaches_100_only_when_done(total: int, done: int) -> None:
    value = privacy.progress(done, total)
    assert 0 <= value <= 100
    assert (value == 100) == (done >= total)
    assert privacy.progress(done + 1, total) >= value


def test_the_readme_lists_every_file_with_its_count() -> None:
    text = privacy.export_readme("s", "2026-01-01T00:00:00+00:00", {"submissions": 1000, "photos": 2})
    for name in privacy.EXPORT_FILES:
        assert f"- {name}" in text
    assert "submissions.json (1000 records)" in text and "photos/ (2 records)" in text


# --- retention -------------------------------------------------------------------------------------


def test_every_retention_period_is_a_typed_flag_with_a_sane_range() -> None:
    for kind in retention.KINDS:
        spec = FLAGS[kind.flag]
        assert spec.type == "int" and spec.default == kind.default
        assert spec.minimum is not None and spec.minimum >= 1 and spec.minimum <= kind.default
        assert spec.maximum is not None and kind.default <= spec.maximum
        assert re.fullmatch(r"[A-Z_]+", kind.flag)
    # a stored period outside its range reads as the default, never breaks the run
    assert resolve({"RETENTION_RATE_LIMIT_DAYS": 0})["RETENTION_RATE_LIMIT_DAYS"] == 1


@given(days=st.integers(0, 5), pattern=st.lists(st.booleans(), min_size=0, max_size=6))
def test_failing_two_days_running(days: int, pattern: list[bool]) -> None:
    start = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    runs = [(start - timedelta(hours=12 * i), ok) for i, ok in enumerate(pattern)]  # newest first
    fired = retention.failing_two_days_running(runs)
    leading_failures = []
    for at, ok in runs:
        if ok:
            break
        leading_failures.append(at.date())
    assert fired == (len(set(leading_failures)) >= 2)


def test_one_bad_night_is_not_an_alert_two_are() -> None:
    now = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    assert not retention.failing_two_days_running([(now, False), (now - timedelta(days=1), True)])
    assert not retention.failing_two_days_running([(now, False), (now - timedelta(minutes=5), False)])
    assert retention.failing_two_days_running([(now, False), (now - timedelta(days=1), False)])


@given(offsets=st.lists(st.integers(min_value=0, max_value=3 * 86_400), max_size=8),
       per_day=st.integers(min_value=1, max_value=5))
def test_a_subject_asks_for_at_most_so_many_exports_in_any_rolling_day(offsets: list[int], per_day: int) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    recent = [now - timedelta(seconds=s) for s in offsets]
    inside = [t for t in recent if t > now - privacy.EXPORT_WINDOW]
    wait = privacy.export_retry_after(recent, now, per_day=per_day)
    # refused exactly when the day already holds `per_day` requests
    assert (wait is None) == (len(inside) < per_day)
    if wait is not None:
        # after the wait the window holds one fewer than the limit; a second earlier it did not
        later = now + timedelta(seconds=wait)
        assert privacy.export_retry_after(recent, later, per_day=per_day) is None
        assert wait == 1 or privacy.export_retry_after(recent, later - timedelta(seconds=2), per_day=per_day)
