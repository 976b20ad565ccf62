"""Pure rules against abuse: registration roles and limits, the starter grant, owner-distinct attestation
counts and sock patterns (findings 2 and 3)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import hyperlocal, registration, socks
from chalicelib.domain.errors import Forbidden, RateLimited
from chalicelib.domain.money import STARTER_GRANT

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("role", "kind", "names_owner"),
                         list(itertools.product([None, "agent", "human", "admin", "other"], ["agent", "human"],
                                                [False, True])))
def test_finding_2_role_rules_sweep_every_caller_kind_and_owner_claim(
        role: str | None, kind: str, names_owner: bool) -> None:
    allowed = (role == "admin") or (not names_owner and (role is None or role == kind))
    if allowed:
        registration.check_may_register(role, kind, names_owner=names_owner)
    else:
        with pytest.raises(Forbidden):
            registration.check_may_register(role, kind, names_owner=names_owner)


def test_finding_2_member_keys_always_register_under_their_own_owner() -> None:
    mine, named, fresh = uuid4(), uuid4(), uuid4()
    assert registration.owner_for("agent", mine, None, fresh) == mine
    assert registration.owner_for("human", mine, None, fresh) == mine
    assert registration.owner_for("admin", None, named, fresh) == named
    assert registration.owner_for("admin", None, None, fresh) == fresh
    assert registration.owner_for(None, None, None, fresh) == fresh


@given(
    offsets=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=80),
    count=st.integers(min_value=1, max_value=12),
    window_s=st.integers(min_value=1, max_value=120),
)
def test_finding_2_a_rolling_limit_never_admits_more_than_its_count_in_any_window(
        offsets: list[int], count: int, window_s: int) -> None:
    limit = registration.Limit("l", count, timedelta(seconds=window_s))
    accepted: list[datetime] = []
    for offset in sorted(offsets):
        now = T0 + timedelta(seconds=offset)
        try:
            registration.check_limit(limit, accepted, now)
        except RateLimited as refused:
            assert refused.retry_after_s >= 1
            # Waiting Retry-After seconds is enough.
            registration.check_limit(limit, accepted, now + timedelta(seconds=refused.retry_after_s))
            continue
        accepted.append(now)
    for t in accepted:
        assert sum(1 for u in accepted if t - limit.window < u <= t) <= count


def test_finding_2_the_grant_is_due_only_to_an_owners_first_identity_in_the_window() -> None:
    assert registration.grant_due(0)
    assert not any(registration.grant_due(n) for n in range(1, 50))


@given(grants=st.integers(min_value=0, max_value=10**9),
       baseline=st.lists(st.integers(min_value=0, max_value=10**8), max_size=30))
def test_finding_2_a_grant_spike_needs_the_floor_and_three_times_the_median(grants: int, baseline: list[int]) -> None:
    spike = registration.grant_spike(grants, baseline)
    if grants <= 20 * STARTER_GRANT:
        assert not spike
    if spike and baseline:
        assert grants > 3 * sorted(baseline)[(len(baseline) - 1) // 2]
    assert registration.grant_spike(grants + STARTER_GRANT, baseline) or not spike  # monotone in grants


def test_finding_2_addresses_are_stored_as_fingerprints() -> None:
    fp = registration.address_fingerprint("198.51.100.7")
    assert fp == registration.address_fingerprint(" 198.51.100.7 ") and "198" not in fp and len(fp) == 32


owners = st.lists(st.uuids(), min_size=1, max_size=6, unique=True)


@given(owners=owners, data=st.data())
def test_finding_3_more_identities_of_the_same_owners_never_add_to_the_counts(owners: list[UUID], data: st.DataObject
                                                                               ) -> None:
    statuses = st.sampled_from(["confirmed", "resolved", "not_found"])
    base = data.draw(st.lists(st.tuples(statuses, st.sampled_from(owners)), max_size=20))
    extra = data.draw(st.lists(st.tuples(statuses, st.sampled_from(owners)), max_size=20))
    counts = socks.distinct_owner_counts(base)
    more = socks.distinct_owner_counts(base + [e for e in extra if e in base])
    assert counts == more
    for status, n in counts.items():
        assert n <= sum(1 for s, _ in base if s == status) and n <= len(owners)
    # Effects are decided on owners: one owner's identities never trigger anything.
    single = socks.distinct_owner_counts([(s, owners[0]) for s, _ in base + extra])
    assert hyperlocal.due_effects(single) == []


def test_finding_3_sock_groups_find_each_pattern() -> None:
    problem, problem_owner, sock_owner = uuid4(), uuid4(), uuid4()
    h = [uuid4() for _ in range(6)]
    rows = [
        socks.Attestation(problem, "confirmed", h[0], problem_owner, problem_owner, "a"),
        socks.Attestation(problem, "not_found", h[1], sock_owner, problem_owner, "b"),
        socks.Attestation(problem, "not_found", h[2], sock_owner, problem_owner, "c"),
        socks.Attestation(problem, "resolved", h[3], uuid4(), problem_owner, "cafe"),
        socks.Attestation(problem, "resolved", h[4], uuid4(), problem_owner, "cafe"),
        socks.Attestation(problem, "resolved", h[5], uuid4(), problem_owner, "unknown"),
    ]
    found = {(g.status, g.pattern): g for g in socks.sock_groups(rows)}
    assert set(found) == {("confirmed", "same_owner_as_problem"), ("not_found", "shared_owner"),
                          ("resolved", "shared_address")}
    assert found["not_found", "shared_owner"].distinct_owners == 1
    assert set(found["resolved", "shared_address"].attester_ids) == {h[3], h[4]}
    independent = [socks.Attestation(problem, "confirmed", uuid4(), uuid4(), problem_owner, "unknown")
                   for _ in range(5)]
    assert socks.sock_groups(independent) == []
