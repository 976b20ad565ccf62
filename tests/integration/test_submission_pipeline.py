"""One submission travels the pipeline: API -> outbox -> guardrail stage -> decision and trail."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.fakes.anthropic_server import FakeAnthropic, HttpError
from tests.support import Api, api_client, drain_outbox

SUBMISSION = {
    "kind": "problem",
    "title": "Community garden needs water access",
    "body": "Our neighbourhood food garden has no tap; volunteers carry water 400 m. "
            "A rain tank and a shared hose line would help food security for 60 families.",
    "domain": "food_security",
}


@pytest.fixture
def api(db: str):
    with api_client() as client:
        yield client


def rows(db: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_a_submission_is_stored_pending_with_its_message_then_decided_by_layer_b(api: Api, db: str) -> None:
    key, _ = api.register("gardener")
    created = api.post("/v1/submissions", key=key, body=SUBMISSION)
    assert created.status == 201
    sub_id = created.data["id"]
    assert created.data["status"] == "pending"
    assert rows(db, "SELECT topic, payload->>'submission_id' FROM outbox") == [("guardrail", sub_id)]

    assert drain_outbox() == 1
    detail = api.get(f"/v1/submissions/{sub_id}", key=key).data
    assert detail["status"] in {"approved", "flagged", "rejected"}
    assert detail["decided_by"] == "layer_b"
    stages = [t["stage"] for t in detail["trail"]]
    assert stages == ["layer_a", "layer_b", "routing"]
    layer_b = detail["trail"][1]["verdict"]
    assert layer_b["classifier"] == "offline" and layer_b["decision"] == detail["status"]
    assert detail["trail"][2]["verdict"]["path"] == "layer_b"
    assert "PEER_VALIDATION_TRAFFIC_PCT" in detail["trail"][2]["verdict"]["flags"]


def test_a_verified_agent_with_good_content_is_approved_and_gains_trust(
    api: Api, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("TRUST_VERIFIED_MIN_AGE_DAYS", "0")
    monkeypatch.setenv("TRUST_VERIFIED_MIN_APPROVALS", "0")
    reset_settings()
    key, agent = api.register("trusted")
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        reset_settings()
        from chalicelib import bootstrap

        bootstrap.reset()
        sub_id = api.post("/v1/submissions", key=key, body=SUBMISSION).data["id"]
        drain_outbox()
        detail = api.get(f"/v1/submissions/{sub_id}", key=key).data
        request = fake.message_requests()[0].body
    assert request["tool_choice"]["type"] == "tool"
    assert detail["status"] == "approved"
    assert detail["trail"][1]["verdict"]["classifier"] == "anthropic"
    assert rows(db, "SELECT approvals_count FROM agents WHERE id = %s", UUID(agent["id"])) == [(1,)]


def test_when_layer_b_keeps_failing_the_submission_goes_to_human_review_never_approved(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings

    key, _ = api.register("unlucky")
    with FakeAnthropic() as fake:
        fake.enqueue(*[HttpError(529, retry_after=0)] * 3)
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        reset_settings()
        bootstrap.reset()
        sub_id = api.post("/v1/submissions", key=key, body=SUBMISSION).data["id"]
        drain_outbox()
    detail = api.get(f"/v1/submissions/{sub_id}", key=key).data
    assert detail["status"] == "flagged"
    assert detail["trail"][1]["verdict"]["error"]


def test_a_layer_a_block_is_422_stored_as_rejected_and_sends_nothing(api: Api, db: str) -> None:
    key, _ = api.register("shady")
    answer = api.post("/v1/submissions", key=key, body={
        "kind": "solution", "title": "Neighbourhood safety",
        "body": "Install hidden cameras for covert surveillance of every resident and sell guns at the gate.",
    })
    assert answer.status == 422 and answer.error["code"] == "GUARDRAIL_REJECTED"
    assert {"surveillance", "weapons"} <= set(answer.error["details"]["categories"])
    sub_id = answer.error["details"]["submission_id"]
    assert rows(db, "SELECT status, decided_by FROM submissions WHERE id = %s", UUID(sub_id)) == [
        ("rejected", "layer_a")]
    assert rows(db, "SELECT count(*) FROM outbox") == [(0,)]


def test_pii_is_masked_in_the_stored_text(api: Api) -> None:
    key, _ = api.register("careless")
    body = {**SUBMISSION, "body": SUBMISSION["body"] + " Call Jane at jane.doe@example.org or 415-555-0132."}
    stored = api.post("/v1/submissions", key=key, body=body).data["body"]
    assert "jane.doe@example.org" not in stored and "415-555-0132" not in stored


def test_a_retried_post_with_the_same_idempotency_key_returns_the_first_result(api: Api, db: str) -> None:
    key, _ = api.register("retrier")
    first = api.post("/v1/submissions", key=key, body=SUBMISSION, headers={"Idempotency-Key": "k-1"})
    again = api.post("/v1/submissions", key=key, body=SUBMISSION, headers={"Idempotency-Key": "k-1"})
    assert first.status == again.status == 201
    assert first.data["id"] == again.data["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert rows(db, "SELECT count(*) FROM submissions") == [(1,)]
    assert rows(db, "SELECT count(*) FROM outbox") == [(1,)]
    other = api.post("/v1/submissions", key=key, body={**SUBMISSION, "title": "changed"},
                     headers={"Idempotency-Key": "k-1"})
    assert other.status == 409 and other.error["code"] == "CONFLICT"


def _guardrail_event(submission_id: str, message_key: str, message_ids: list[str]) -> dict[str, Any]:
    return {"Records": [{
        "messageId": mid, "receiptHandle": mid, "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:peerguard-guardrail",
        "attributes": {"ApproximateReceiveCount": "1"}, "md5OfBody": "",
        "messageAttributes": {},
        "body": json.dumps({"submission_id": submission_id, "message_key": message_key}),
    } for mid in message_ids]}


def test_duplicate_delivery_of_the_same_message_changes_nothing(api: Api, db: str) -> None:
    from chalicelib.entrypoints.workers import guardrail_worker

    key, _ = api.register("twice")
    sub_id = api.post("/v1/submissions", key=key, body=SUBMISSION).data["id"]
    # SQS delivers the same outbox message twice in one batch and once more later.
    first = guardrail_worker(_guardrail_event(sub_id, "outbox:1", ["m-1", "m-2"]), None)
    trail_after_first = rows(db, "SELECT stage, verdict FROM decision_trail ORDER BY id")
    status_after_first = rows(db, "SELECT status, decided_at FROM submissions")
    second = guardrail_worker(_guardrail_event(sub_id, "outbox:1", ["m-3"]), None)
    assert first == second == {"batchItemFailures": []}
    assert rows(db, "SELECT stage, verdict FROM decision_trail ORDER BY id") == trail_after_first
    assert rows(db, "SELECT status, decided_at FROM submissions") == status_after_first
    assert [r[0] for r in trail_after_first].count("layer_b") == 1


def test_a_poison_record_fails_alone_and_its_batch_mates_succeed(api: Api, db: str) -> None:
    from chalicelib.entrypoints.workers import guardrail_worker

    key, _ = api.register("batcher")
    sub_id = api.post("/v1/submissions", key=key, body=SUBMISSION).data["id"]
    event = _guardrail_event(sub_id, "outbox:1", ["good"])
    event["Records"].append({**event["Records"][0], "messageId": "poison", "body": "{\"submission_id\": 7}"})
    result = guardrail_worker(event, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert rows(db, "SELECT status <> 'pending' FROM submissions") == [(True,)]
