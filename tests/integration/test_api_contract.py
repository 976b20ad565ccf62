"""The HTTP contract: envelope, auth, validation, rate limits, pagination, OpenAPI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import psycopg
import pytest

from chalicelib import bootstrap
from tests.support import Api, admin_key, api_client


@pytest.fixture
def api(db: str):
    with api_client() as client:
        yield client


def count(db: str, table: str) -> int:
    with psycopg.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def test_health_answers_in_the_envelope_with_a_request_id(api: Api) -> None:
    answer = api.get("/v1/health")
    assert answer.status == 200
    assert answer.body["ok"] is True
    assert answer.data["database"] == "ok"
    assert answer.body["requestId"] == answer.headers["x-request-id"]


def test_registration_shows_the_key_once_stores_only_its_hash_and_pays_the_starter_grant(
    api: Api, db: str
) -> None:
    key, agent = api.register("helper-bot", description="maps food banks")
    assert key.startswith("pgk_")
    assert agent["balance"] == {"credits": "50.000", "millicredits": 50_000}
    with psycopg.connect(db) as conn:
        stored = conn.execute("SELECT prefix, key_hash FROM api_keys").fetchall()
        dump = json.dumps([[p, bytes(h).hex()] for p, h in stored])
    assert key not in dump and key.split("_")[2] not in dump
    me = api.get("/v1/agents/me", key=key)
    assert me.status == 200 and me.data["id"] == agent["id"]
    credits = api.get("/v1/credits", key=key).data
    assert credits["balance"]["millicredits"] == 50_000
    assert [line["kind"] for line in credits["history"]] == ["starter_grant"]
    assert credits["history"][0]["reference"] == f"starter-grant:{agent['id']}"


def test_an_agent_registering_a_sibling_shares_its_owner_and_cannot_claim_another(api: Api) -> None:
    key, first = api.register("first")
    _, sibling = api.register("sibling", key=key)
    _, stranger = api.register("stranger")
    assert sibling["owner_id"] == first["owner_id"]
    assert stranger["owner_id"] != first["owner_id"]
    claimed = api.post("/v1/agents", body={"name": "claim", "owner_id": "00000000-0000-0000-0000-000000000001"},
                       key=key)
    assert claimed.status == 403 and claimed.error["code"] == "FORBIDDEN"  # finding 2: never silently ignored


def test_admin_may_name_the_owner(api: Api) -> None:
    owner = "5b1f3a52-0d1e-4c55-9d7e-3f1c2b4a5d6e"
    _, agent = api.register("owned", key=admin_key(), owner_id=owner)
    assert agent["owner_id"] == owner


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "missing bearer API key"),
        ({"Authorization": "Basic abc"}, "missing bearer API key"),
        ({"Authorization": "Bearer not-a-key"}, "invalid API key"),
        ({"Authorization": "Bearer pgk_0123456789ab_" + "A" * 43}, "invalid API key"),
    ],
)
def test_missing_or_wrong_keys_are_401(api: Api, headers: dict[str, str], expected: str) -> None:
    answer = api.get("/v1/agents/me", headers=headers)
    assert answer.status == 401
    assert answer.error == {"code": "UNAUTHORIZED", "message": expected}


def test_a_revoked_key_is_401_and_an_agent_key_cannot_use_admin_routes(api: Api, db: str) -> None:
    key, agent = api.register("soon-revoked")
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE api_keys SET revoked_at = now() WHERE agent_id = %s", (UUID(agent["id"]),))
    answer = api.get("/v1/agents/me", key=key)
    assert answer.status == 401 and answer.error["message"] == "API key revoked"
    human_key, _ = api.register("walker", kind="human")
    assert api.post("/v1/submissions", key=human_key,
                    body={"kind": "problem", "title": "t", "body": "b"}).status == 403


GOOD = {"kind": "problem", "title": "Clinic queue times", "body": "Rural clinic queues are six hours long."}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", "body"),
        ("[1, 2]", "body"),
        (json.dumps({**GOOD, "kind": "essay"}), "kind"),
        (json.dumps({**GOOD, "title": 42}), "title"),
        (json.dumps({**GOOD, "surprise": True}), "surprise"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "body"}), "body"),
        (json.dumps({**GOOD, "body": "x" * 65_537}), "body"),
        (json.dumps({**GOOD, "title": "nul\u0000byte"}), "title"),
        (json.dumps({**GOOD, "location": {"latitude": 91, "longitude": 0}}), "location.latitude"),
        ("", "body"),
    ],
)
def test_bad_bodies_are_400_with_field_details_and_write_nothing(api: Api, db: str, raw: str, field: str) -> None:
    key, _ = api.register("careful")
    answer = api.post("/v1/submissions", key=key, raw=raw)
    assert answer.status == 400, answer.body
    assert answer.error["code"] == "VALIDATION_ERROR"
    assert any(d["field"] == field or d["field"].startswith(field) for d in answer.error["details"]), answer.error
    assert count(db, "submissions") == 0 and count(db, "outbox") == 0


def test_an_oversized_request_is_413_and_a_wrong_media_type_415(api: Api, db: str) -> None:
    key, _ = api.register("big")
    huge = json.dumps({**GOOD, "body": "y" * 300_000})
    answer = api.post("/v1/submissions", key=key, raw=huge)
    assert answer.status == 413 and answer.error["code"] == "PAYLOAD_TOO_LARGE"
    answer = api.post("/v1/submissions", key=key, raw="kind=problem", headers={"Content-Type": "text/plain"})
    assert answer.status == 415 and answer.error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert count(db, "submissions") == 0


def test_bad_query_parameters_are_400(api: Api) -> None:
    key, _ = api.register("pager")
    from chalicelib.domain.pagination import encode_cursor

    forged = encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "1; DROP TABLE submissions")
    for query in ("limit=0", "limit=101", "limit=abc", "cursor=!!", "cursor=bm90LWpzb24", "unknown=1",
                  f"cursor={forged}"):
        answer = api.get(f"/v1/submissions?{query}", key=key)
        assert answer.status == 400, (query, answer.body)
        assert answer.error["code"] == "VALIDATION_ERROR"


def test_rate_limit_answers_429_with_retry_after(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    key, _ = api.register("chatty")
    monkeypatch.setenv("RATE_LIMIT_AGENT_PER_MIN", "3")
    reset_settings()
    statuses = [api.get("/v1/agents/me", key=key).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    answer = api.get("/v1/agents/me", key=key)
    assert answer.error["code"] == "RATE_LIMITED"
    assert 1 <= int(answer.headers["retry-after"]) <= 60


def test_keyset_pagination_walks_every_row_once_even_with_equal_timestamps(api: Api) -> None:
    """Defect 11: paging by a random UUID while ordering by time lost and repeated rows."""
    from chalicelib.domain.principal import Principal
    from chalicelib.services.submissions import SubmissionDraft, submit_content

    key, agent = api.register("prolific")
    me = Principal(key_id=UUID(int=0), role="agent", agent_id=UUID(agent["id"]), owner_id=None, agent_kind="agent")
    same_instant = datetime(2026, 1, 1, tzinfo=UTC)
    created = {
        str(submit_content(bootstrap.unit_of_work(), me, SubmissionDraft("debate", f"Topic {i}",
                                                                         "Should parks open later?"),
                           now=same_instant if i < 5 else None).submission["id"])
        for i in range(7)
    }
    seen: list[str] = []
    cursor = None
    while True:
        answer = api.get("/v1/submissions?limit=2" + (f"&cursor={cursor}" if cursor else ""), key=key)
        seen += [s["id"] for s in answer.data]
        cursor = answer.body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == created


def test_openapi_describes_every_route(api: Api) -> None:
    from app import app

    doc = api.get("/v1/openapi.json").body
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {(m, p) for p, methods in app.routes.items() for m in methods}
    assert served == documented
    submit = doc["paths"]["/v1/submissions"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SubmitContent")
    assert {"201", "400", "401", "422", "429"} <= set(submit["responses"])
