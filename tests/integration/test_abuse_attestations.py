"""Finding 3 (attestations without conflict of interest): an owner never attests its own problem, effects
need three distinct owners, and sock patterns are counted in the collusion report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import psycopg
import pytest

from chalicelib.bootstrap import unit_of_work
from chalicelib.services import registration
from chalicelib.services.agents import authenticate
from tests.integration.test_attestations import attest, make_problem, review_items, urgency
from tests.support import Api, admin_key, api_client


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def owner_of(db: str, agent_id: str) -> str:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT owner_id FROM agents WHERE id = %s", (UUID(agent_id),)).fetchone()
    assert row is not None
    return str(row[0])


def socks_of(api: Api, admin: str, owner: str, count: int) -> list[str]:
    """Humans an admin registers under one owner (the only way left to give humans an agent's owner)."""
    return [api.register(f"sock-{uuid4().hex[:6]}", kind="human", key=admin, owner_id=owner)[0]
            for _ in range(count)]


def problem_of(api: Api, db: str) -> tuple[str, str]:
    problem = make_problem(api, db)
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT a.owner_id FROM submissions s JOIN agents a ON a.id = s.agent_id"
                           " WHERE s.id = %s", (UUID(problem),)).fetchone()
    assert row is not None
    return problem, str(row[0])


def test_finding_3_an_owner_cannot_attest_its_own_problem(api: Api, db: str) -> None:
    problem, owner = problem_of(api, db)
    [sock] = socks_of(api, admin_key(), owner, 1)
    answer = attest(api, sock, problem, "confirmed")
    assert answer.status == 403 and answer.error["code"] == "FORBIDDEN"
    assert "conflict of interest" in answer.error["message"]
    assert urgency(db, problem) == 0.5


def test_finding_3_three_identities_of_one_owner_are_one_voice(api: Api, db: str) -> None:
    """Three socks of a competitor say not_found: nothing happens until two more independent owners agree."""
    problem, _ = problem_of(api, db)
    admin = admin_key()
    competitor = str(uuid4())
    for sock in socks_of(api, admin, competitor, 3):
        answer = attest(api, sock, problem, "not_found")
        assert answer.status == 201 and answer.data["effects_applied"] == []
    assert review_items(db, problem) == []
    independent = [api.register(f"neighbour-{i}", kind="human")[0] for i in range(2)]
    assert attest(api, independent[0], problem, "not_found").data["effects_applied"] == []
    last = attest(api, independent[1], problem, "not_found")
    assert last.data["counts"]["not_found"] == 5 and last.data["effects_applied"] == ["review_not_found"]
    assert len(review_items(db, problem)) == 1


def test_finding_3_urgency_boost_needs_three_distinct_owners(api: Api, db: str) -> None:
    problem, _ = problem_of(api, db)
    admin = admin_key()
    ally = str(uuid4())
    for sock in socks_of(api, admin, ally, 4):
        attest(api, sock, problem, "confirmed")
    assert urgency(db, problem) == 0.5
    for i in range(2):
        attest(api, api.register(f"walker-{i}", kind="human")[0], problem, "confirmed")
    assert urgency(db, problem) == pytest.approx(0.55)


def test_finding_3_sock_patterns_are_counted_in_the_collusion_report(api: Api, db: str) -> None:
    admin = admin_key()
    problem, owner = problem_of(api, db)
    # Shared owner: two socks of one owner on the same problem and status.
    for sock in socks_of(api, admin, str(uuid4()), 2):
        attest(api, sock, problem, "not_found")
    # Shared address: two anonymous humans (distinct owners) registered from one address.
    for i in range(2):
        reg = registration.register(unit_of_work(), kind="human", name=f"cafe-{i}", description="", caller=None,
                                    source_address="198.51.100.77")
        attest(api, reg.api_key, problem, "confirmed")
    # Same owner as the problem: written before the rule existed (straight into the table).
    [early] = socks_of(api, admin, owner, 1)
    early_id = authenticate(unit_of_work(), f"Bearer {early}").agent_id
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO attestations (problem_id, human_id, status, created_at) VALUES (%s, %s, 'resolved',"
                     " %s)", (UUID(problem), early_id, datetime.now(UTC)))

    report = api.get("/v1/admin/validators/collusion", key=admin)
    assert report.status == 200, report.body
    assert report.data["attestation_socks"] == {"same_owner_as_problem": 1, "shared_owner_groups": 1,
                                                "shared_address_groups": 1}
    detail = api.get("/v1/admin/collusion/socks?days=7", key=admin).data
    patterns = {(p["status"], p["pattern"]): p for p in detail["patterns"]}
    assert set(patterns) == {("resolved", "same_owner_as_problem"), ("not_found", "shared_owner"),
                             ("confirmed", "shared_address")}
    assert patterns["not_found", "shared_owner"]["attesters"] == 2
    assert patterns["not_found", "shared_owner"]["distinct_owners"] == 1
    assert patterns["confirmed", "shared_address"]["distinct_owners"] == 2
    assert api.get("/v1/admin/collusion/socks", key=api.register("nosy")[0]).status == 403
