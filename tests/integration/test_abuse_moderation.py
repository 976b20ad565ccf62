"""Finding 9: operators suspend and reactivate agents and revoke keys, audited, effective on the very next
request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from tests.support import Api, admin_key, api_client

GOOD = {"kind": "problem", "title": "Flooded underpass on Elm Street",
        "body": "The underpass floods after every storm and children walk through it to school.",
        "domain": "disaster_response"}


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def audit(db: str) -> list[tuple[str, str, str, str]]:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT action, subject_type, subject_id, reason FROM admin_actions ORDER BY id").fetchall()


def test_finding_9_a_suspended_agent_is_refused_on_its_next_request_and_back_when_reactivated(
        api: Api, db: str) -> None:
    admin = admin_key()
    key, agent = api.register("spammer")
    assert api.get("/v1/agents/me", key=key).status == 200
    done = api.post(f"/v1/admin/agents/{agent['id']}/suspend", key=admin, body={"reason": "link spam"})
    assert done.status == 200, done.body
    assert done.data["agent"]["status"] == "suspended" and done.data["agent"]["suspension_reason"] == "link spam"
    refused = api.post("/v1/submissions", key=key, body=GOOD)  # the very next request
    assert refused.status == 403 and refused.error["code"] == "FORBIDDEN"
    assert api.post(f"/v1/admin/agents/{agent['id']}/suspend", key=admin, body={"reason": "again"}).status == 409

    back = api.post(f"/v1/admin/agents/{agent['id']}/reactivate", key=admin, body={"reason": "appeal accepted"})
    assert back.status == 200 and back.data["agent"]["status"] == "active"
    assert api.get("/v1/agents/me", key=key).status == 200
    assert [a[0] for a in audit(db)] == ["agent_suspended", "agent_reactivated"]
    assert audit(db)[0][1:] == ("agent", agent["id"], "link spam")
    record = api.get(f"/v1/admin/agents/{agent['id']}", key=admin).data
    assert [a["action"] for a in record["actions"]] == ["agent_reactivated", "agent_suspended"]
    assert record["keys"][0]["prefix"] == key.split("_")[1]


def test_finding_9_a_revoked_key_is_refused_on_its_next_request(api: Api, db: str) -> None:
    admin = admin_key()
    key, _ = api.register("leaky")
    prefix = key.split("_")[1]
    done = api.post(f"/v1/admin/keys/{prefix}/revoke", key=admin, body={"reason": "posted on a forum"})
    assert done.status == 200, done.body
    assert done.data["key"]["revoked_at"] is not None and done.data["action"]["action"] == "key_revoked"
    refused = api.get("/v1/agents/me", key=key)
    assert refused.status == 401 and refused.error["message"] == "API key revoked"
    assert api.post(f"/v1/admin/keys/{prefix}/revoke", key=admin, body={"reason": "again"}).status == 409
    assert audit(db) == [("key_revoked", "api_key", prefix, "posted on a forum")]


def test_finding_9_operators_cannot_lock_themselves_out_and_others_cannot_act(api: Api, db: str) -> None:
    admin = admin_key()
    own = api.post(f"/v1/admin/keys/{admin.split('_')[1]}/revoke", key=admin, body={"reason": "oops"})
    assert own.status == 409
    agent_key, agent = api.register("bystander")
    for path in (f"/v1/admin/agents/{agent['id']}/suspend", f"/v1/admin/keys/{agent_key.split('_')[1]}/revoke"):
        assert api.post(path, key=agent_key, body={"reason": "x"}).status == 403
    assert api.post("/v1/admin/agents/00000000-0000-0000-0000-000000000000/suspend", key=admin,
                    body={"reason": "x"}).status == 404
    assert api.post("/v1/admin/keys/0123456789ab/revoke", key=admin, body={"reason": "x"}).status == 404
    assert api.post("/v1/admin/keys/NOT-A-PREFIX/revoke", key=admin, body={"reason": "x"}).status == 400
    assert audit(db) == []


def test_finding_9_a_suspended_validator_leaves_the_pool(api: Api, db: str) -> None:
    admin = admin_key()
    _, agent = api.register("validator")
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO validators (agent_id) VALUES (%s)", (agent["id"],))
    api.post(f"/v1/admin/agents/{agent['id']}/suspend", key=admin, body={"reason": "collusion"})
    from chalicelib.adapters import validators_repo
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        [candidate] = validators_repo.candidates(conn, today=datetime.now(UTC))
    assert candidate.suspended  # assignment excludes it from the next round on
