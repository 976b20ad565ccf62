"""Attestations: humans confirm a problem, report it resolved or not found. One per human per problem
(409, never an overwrite) and the side effects applied (defect 10), 20 per hour, withdraw your own."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from chalicelib import bootstrap
from tests.support import Api, admin_key, api_client


@pytest.fixture
def api(db: str):
    with api_client() as client:
        yield client


def make_problem(api: Api, db: str, *, status: str = "approved", kind: str = "problem") -> str:
    """A problem as agents submit it, already decided (the guardrail stage is not under test here)."""
    _, agent = api.register(f"reporter-{uuid4().hex[:6]}")
    problem_id = uuid4()
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by, decided_at)"
            " VALUES (%s, %s, %s, 'Broken streetlight', 'The light at the corner is out.', 'h', %s,"
            " CASE WHEN %s = 'pending' THEN NULL ELSE 'layer_b' END,"
            " CASE WHEN %s = 'pending' THEN NULL ELSE now() END)",
            (problem_id, UUID(agent["id"]), kind, status, status, status),
        )
    return str(problem_id)


def humans(api: Api, count: int) -> list[str]:
    return [api.register(f"neighbour-{i}", kind="human")[0] for i in range(count)]


def attest(api: Api, key: str, problem: str, status: str, note: str | None = None) -> Any:
    body: dict[str, Any] = {"status": status}
    if note is not None:
        body["note"] = note
    return api.post(f"/v1/problems/{problem}/attestations", key=key, body=body)


def urgency(db: str, problem: str) -> float:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT urgency FROM submissions WHERE id = %s", (UUID(problem),)).fetchone()
    assert row is not None
    return float(row[0])


def review_items(db: str, problem: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT subject_type, source, dedup_key FROM review_items WHERE subject_id = %s ORDER BY dedup_key",
            (UUID(problem),),
        ).fetchall()


def test_a_human_attests_a_problem_and_everyone_sees_the_counts(api: Api, db: str) -> None:
    problem = make_problem(api, db)
    [key] = humans(api, 1)
    answer = attest(api, key, problem, "confirmed", "Still dark at night, checked at 22:00.")
    assert answer.status == 201, answer.body
    assert answer.data["attestation"]["status"] == "confirmed"
    assert answer.data["counts"] == {"confirmed": 1, "resolved": 0, "not_found": 0, "total": 1}
    assert answer.data["effects_applied"] == []

    mine = api.get(f"/v1/problems/{problem}/attestations", key=key).data
    assert mine["mine"]["note"] == "Still dark at night, checked at 22:00." and mine["urgency"] == 0.5
    agent_key, _ = api.register("curious-agent")
    theirs = api.get(f"/v1/problems/{problem}/attestations", key=agent_key).data
    assert theirs["counts"]["confirmed"] == 1 and theirs["mine"] is None


def test_defect_10_a_second_attestation_is_409_and_never_overwrites(api: Api, db: str) -> None:
    """The earlier system silently replaced the first attestation with the second."""
    problem = make_problem(api, db)
    [key] = humans(api, 1)
    assert attest(api, key, problem, "confirmed", "first").status == 201
    second = attest(api, key, problem, "resolved", "second")
    assert second.status == 409 and second.error["code"] == "DUPLICATE"
    assert second.error["details"] == {"status": "confirmed"}
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT status, note FROM attestations").fetchall()
    assert rows == [("confirmed", "first")]


def test_defect_10_three_confirmations_raise_urgency_once_and_capped(api: Api, db: str) -> None:
    """The earlier system counted attestations but never applied their effects."""
    problem = make_problem(api, db)
    keys = humans(api, 5)
    outcomes = [attest(api, k, problem, "confirmed").data for k in keys[:3]]
    assert [o["effects_applied"] for o in outcomes] == [[], [], ["urgency_boost"]]
    assert urgency(db, problem) == pytest.approx(0.55)
    # More confirmations, or a withdrawn and repeated one, do not raise it again.
    assert attest(api, keys[3], problem, "confirmed").data["effects_applied"] == []
    assert api.delete(f"/v1/problems/{problem}/attestations", key=keys[0]).status == 200
    assert attest(api, keys[0], problem, "confirmed").data["effects_applied"] == []
    assert urgency(db, problem) == pytest.approx(0.55)
    summary = api.get(f"/v1/problems/{problem}/attestations", key=keys[4]).data
    assert [e["effect"] for e in summary["effects"]] == ["urgency_boost"]
    assert summary["effects"][0]["details"]["to"] == pytest.approx(0.55)

    nearly_critical = make_problem(api, db)
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE submissions SET urgency = 0.95 WHERE id = %s", (UUID(nearly_critical),))
    for k in keys[:3]:
        attest(api, k, nearly_critical, "confirmed")
    assert urgency(db, nearly_critical) == 1.0


@pytest.mark.parametrize("status", ["resolved", "not_found"])
def test_defect_10_three_resolved_or_not_found_queue_the_problem_for_review_once(
    api: Api, db: str, status: str
) -> None:
    problem = make_problem(api, db)
    keys = humans(api, 4)
    for k in keys[:2]:
        attest(api, k, problem, status)
    assert review_items(db, problem) == []
    assert attest(api, keys[2], problem, status).data["effects_applied"] == [f"review_{status}"]
    attest(api, keys[3], problem, status)
    assert review_items(db, problem) == [("problem", "attestations", f"attestations:{problem}:review_{status}")]
    assert urgency(db, problem) == 0.5


def test_concurrent_confirmations_apply_the_effect_exactly_once(api: Api, db: str) -> None:
    from chalicelib.services import agents as agent_service
    from chalicelib.services import attestations as attestation_service

    problem = make_problem(api, db)
    principals = [agent_service.authenticate(bootstrap.unit_of_work(), f"Bearer {k}") for k in humans(api, 6)]
    effects: list[list[str]] = []
    barrier = threading.Barrier(len(principals))

    def run(principal: Any) -> None:
        barrier.wait()
        effects.append(attestation_service.attest(bootstrap.unit_of_work(), principal, UUID(problem), "confirmed",
                                                  None).effects_applied)

    threads = [threading.Thread(target=run, args=(p,)) for p in principals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(effects) == [[]] * 5 + [["urgency_boost"]]
    assert urgency(db, problem) == pytest.approx(0.55)


def test_only_humans_attest_and_only_published_problems(api: Api, db: str) -> None:
    problem = make_problem(api, db)
    agent_key, _ = api.register("bot")
    assert attest(api, agent_key, problem, "confirmed").status == 403
    assert attest(api, admin_key(), problem, "confirmed").status == 403
    [key] = humans(api, 1)
    assert attest(api, key, problem, "fixed").status == 400
    assert attest(api, key, problem, "confirmed", "x" * 501).status == 400
    assert attest(api, key, str(uuid4()), "confirmed").status == 404
    assert attest(api, key, make_problem(api, db, kind="solution"), "confirmed").status == 404
    pending = attest(api, key, make_problem(api, db, status="pending"), "confirmed")
    assert pending.status == 409 and pending.error["code"] == "CONFLICT"


def test_withdrawing_deletes_only_your_own_attestation(api: Api, db: str) -> None:
    problem = make_problem(api, db)
    first, second = humans(api, 2)
    attest(api, first, problem, "confirmed")
    attest(api, second, problem, "not_found")
    gone = api.delete(f"/v1/problems/{problem}/attestations", key=first)
    assert gone.status == 200 and gone.data == {"confirmed": 0, "resolved": 0, "not_found": 1, "total": 1}
    assert api.delete(f"/v1/problems/{problem}/attestations", key=first).status == 404
    # Withdrawn, the human may attest again, differently.
    assert attest(api, first, problem, "resolved").status == 201


def test_attestations_are_limited_per_human_per_hour(api: Api, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("ATTESTATIONS_PER_HOUR", "2")
    reset_settings()
    [key] = humans(api, 1)
    problems = [make_problem(api, db) for _ in range(3)]
    assert [attest(api, key, p, "confirmed").status for p in problems] == [201, 201, 429]
    limited = attest(api, key, problems[2], "confirmed")
    assert limited.error["code"] == "RATE_LIMITED" and int(limited.headers["retry-after"]) <= 3600
    [other] = humans(api, 1)
    assert attest(api, other, problems[2], "confirmed").status == 201


def test_the_default_limit_is_twenty_attempts_an_hour(api: Api, db: str) -> None:
    problem = make_problem(api, db)
    [key] = humans(api, 1)
    statuses = [attest(api, key, problem, "confirmed").status for _ in range(21)]
    assert statuses == [201] + [409] * 19 + [429]
