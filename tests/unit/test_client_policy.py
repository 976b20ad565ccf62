"""The Python client's transport policy against a scripted server (httpx's MockTransport): what it
retries and how long it waits, the Idempotency-Key it keeps across retries, its typed errors,
deprecation warnings and the wait-for-decision backoff."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from peerguard_client import AsyncClient, Client, RetryPolicy, errors
from peerguard_client._core import DecisionPoll, parse_retry_after

SUBMISSION: dict[str, Any] = {
    "id": "5f0c8a4e-2c1e-4c0a-9d59-000000000001", "agent_id": "5f0c8a4e-2c1e-4c0a-9d59-000000000002",
    "kind": "problem", "title": "t", "body": "b", "domain": None, "location": None, "mission_id": None,
    "status": "pending", "decided_by": None, "route_path": None,
    "cost": {"credits": "2.000", "millicredits": 2000}, "created_at": "2026-12-05T09:00:00Z",
    "decided_at": None,
}


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"ok": True, "data": data, "requestId": "r-ok"}, headers=headers)


def fail(status: int, code: str, headers: dict[str, str] | None = None, details: Any = None) -> httpx.Response:
    error: dict[str, Any] = {"code": code, "message": f"{code} happened"}
    if details is not None:
        error["details"] = details
    return httpx.Response(status, json={"ok": False, "error": error, "requestId": f"r-{status}"}, headers=headers)


class Script:
    """Answers requests in order from a list; records what was asked."""

    def __init__(self, answers: Sequence[httpx.Response | Exception]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(script: Script, sleeps: list[float], **kw: Any) -> Client:
    return Client("http://api.test", api_key="pgk_test", transport=httpx.MockTransport(script),
                  sleep=sleeps.append, **kw)


def test_429_is_retried_after_the_servers_retry_after() -> None:
    script, sleeps = Script([fail(429, "RATE_LIMITED", {"Retry-After": "7"}), ok({"status": "ok", "database": "ok",
                                                                               "version": "1"})]), list[float]()
    assert client_for(script, sleeps).health().status == "ok"
    assert sleeps == [7.0]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_unavailable_answers_are_retried_with_growing_backoff(status: int) -> None:
    script = Script([fail(status, "UNAVAILABLE"), fail(status, "UNAVAILABLE"),
                     ok({"status": "ok", "database": "ok", "version": "1"})])
    sleeps: list[float] = []
    client_for(script, sleeps, retry=RetryPolicy(backoff_base_s=1.0)).health()
    assert len(script.requests) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


@pytest.mark.parametrize(("status", "code", "cls"), [
    (400, "VALIDATION_ERROR", errors.ValidationError), (401, "UNAUTHORIZED", errors.Unauthorized),
    (403, "INSUFFICIENT_CREDITS", errors.InsufficientCredits), (404, "NOT_FOUND", errors.NotFound),
    (409, "CONFLICT", errors.Conflict), (410, "GONE", errors.Gone),
    (422, "GUARDRAIL_REJECTED", errors.GuardrailRejected), (503, "FEATURE_DISABLED", errors.FeatureDisabled),
])
def test_client_errors_are_never_retried_and_raise_their_typed_error(status: int, code: str,
                                                                    cls: type[errors.ApiError]) -> None:
    script, sleeps = Script([fail(status, code, details={"field": "title"})]), list[float]()
    with pytest.raises(cls) as caught:
        client_for(script, sleeps).me()
    assert len(script.requests) == 1 and sleeps == []
    assert caught.value.request_id == f"r-{status}"
    assert caught.value.details == {"field": "title"}
    assert caught.value.status == status


def test_retries_stop_after_the_policy_and_the_last_error_is_raised() -> None:
    script, sleeps = Script([fail(503, "UNAVAILABLE")] * 4), list[float]()
    with pytest.raises(errors.Unavailable):
        client_for(script, sleeps, retry=RetryPolicy(max_retries=3)).me()
    assert len(script.requests) == 4 and len(sleeps) == 3


def test_a_submission_keeps_its_idempotency_key_across_retries_even_after_a_read_timeout() -> None:
    script = Script([httpx.ReadTimeout("slow"), fail(502, "INTERNAL_ERROR"), ok(SUBMISSION, 201)])
    sleeps: list[float] = []
    submitted = client_for(script, sleeps).submit("problem", "t", "b")
    assert submitted.status == "pending"
    keys = {r.headers["idempotency-key"] for r in script.requests}
    assert len(script.requests) == 3 and len(keys) == 1
    assert json.loads(script.requests[0].content) == {"kind": "problem", "title": "t", "body": "b"}


def test_two_submissions_get_two_keys_and_a_callers_key_is_used_as_given() -> None:
    script, sleeps = Script([ok(SUBMISSION, 201), ok(SUBMISSION, 201), ok(SUBMISSION, 201)]), list[float]()
    client = client_for(script, sleeps)
    client.submit("problem", "t", "b")
    client.submit("problem", "t", "b")
    client.submit("problem", "t", "b", idempotency_key="mine-1")
    keys = [r.headers["idempotency-key"] for r in script.requests]
    assert keys[0] != keys[1] and keys[2] == "mine-1"


def test_a_non_idempotent_call_is_not_resent_after_a_read_timeout_but_is_after_a_refused_connection() -> None:
    script, sleeps = Script([httpx.ReadTimeout("slow")]), list[float]()
    with pytest.raises(errors.TransportError):
        client_for(script, sleeps).answer_evaluation("5f0c8a4e-2c1e-4c0a-9d59-000000000001", "approve",
                                                      confidence=0.9, reasoning="fine")
    assert len(script.requests) == 1
    evaluation: dict[str, Any] = {"id": "5f0c8a4e-2c1e-4c0a-9d59-000000000001", "submission_id": SUBMISSION["id"],
                  "status": "answered", "decision": "approve", "confidence": 0.9, "reasoning": "fine",
                  "safety_flagged": False, "assigned_at": "2026-12-05T09:00:00Z",
                  "expires_at": "2026-12-05T09:30:00Z", "responded_at": "2026-12-05T09:01:00Z",
                  "quorum_reached": False}
    script = Script([httpx.ConnectError("refused"), ok(evaluation)])
    answered = client_for(script, sleeps).answer_evaluation(evaluation["id"], "approve", confidence=0.9,
                                                             reasoning="fine")
    assert answered.status == "answered" and len(script.requests) == 2


def test_connection_errors_past_the_retries_raise_a_transport_error() -> None:
    script, sleeps = Script([httpx.ConnectError("refused")] * 4), list[float]()
    with pytest.raises(errors.TransportError):
        client_for(script, sleeps).me()
    assert len(sleeps) == 3


def test_every_call_has_a_timeout() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return ok({"status": "ok", "database": "ok", "version": "1"})

    Client("http://api.test", transport=httpx.MockTransport(handler), timeout_s=3.5).health()
    assert seen[0] == {"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}


def test_a_deprecated_route_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    headers = {"Deprecation": "@1767225600", "Sunset": "Tue, 01 Sep 2026 00:00:00 GMT",
               "Link": '</v1/agents/me/v2>; rel="successor-version"'}
    me: dict[str, Any] = {"id": SUBMISSION["agent_id"], "kind": "agent", "name": "a", "description": "", "owner_id":
          SUBMISSION["agent_id"], "status": "active", "trust_tier": "new", "approvals": 0,
          "created_at": "2026-12-05T09:00:00Z"}
    script, sleeps = Script([ok(me, headers=headers)] * 3), list[float]()
    client = client_for(script, sleeps)
    with caplog.at_level(logging.WARNING, logger="peerguard_client"):
        client.me()
        client.me()
        client.me()
    warnings = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1
    assert "/v1/agents/me" in warnings[0].getMessage() and "successor-version" in warnings[0].getMessage()


def test_unknown_codes_and_non_envelope_answers_are_still_api_errors() -> None:
    script, sleeps = Script([fail(418, "TEAPOT"), httpx.Response(500, text="<html>")]), list[float]()
    client = client_for(script, sleeps, retry=RetryPolicy(max_retries=0))
    with pytest.raises(errors.ApiError) as first:
        client.me()
    assert first.value.code == "TEAPOT"
    with pytest.raises(errors.ApiError) as second:
        client.me()
    assert second.value.code == "HTTP_500"


def test_wait_for_decision_polls_with_backoff_until_the_status_changes() -> None:
    decided = {**SUBMISSION, "status": "approved", "decided_by": "peer_consensus",
               "decided_at": "2026-12-05T09:02:00Z", "trail": []}
    pending = {**SUBMISSION, "trail": []}
    script, sleeps = Script([ok(pending)] * 4 + [ok(decided)]), list[float]()
    detail = client_for(script, sleeps).wait_for_decision(SUBMISSION["id"], initial_interval_s=1.0, factor=2.0,
                                                          max_interval_s=5.0)
    assert detail.status == "approved"
    assert sleeps == [1.0, 2.0, 4.0, 5.0]


def test_wait_for_decision_gives_up_after_its_timeout() -> None:
    script, sleeps = Script([ok({**SUBMISSION, "trail": []})] * 2), list[float]()
    with pytest.raises(errors.DecisionTimeout):
        client_for(script, sleeps).wait_for_decision(SUBMISSION["id"], timeout_s=0.0)


def test_the_async_client_follows_the_same_policy() -> None:
    script = Script([fail(429, "RATE_LIMITED", {"Retry-After": "2"}), httpx.ConnectError("refused"),
                     ok(SUBMISSION, 201)])
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    async def story() -> str:
        async with AsyncClient("http://api.test", api_key="k", transport=httpx.MockTransport(script),
                               sleep=record) as client:
            return (await client.submit("problem", "t", "b")).status

    assert asyncio.run(story()) == "pending"
    assert sleeps[0] == 2.0 and len(sleeps) == 2
    assert len({r.headers["idempotency-key"] for r in script.requests}) == 1


@given(st.integers(0, 10), st.floats(0.01, 5), st.floats(0.1, 60))
def test_backoff_stays_within_its_ceiling(attempt: int, base: float, ceiling: float) -> None:
    policy = RetryPolicy(backoff_base_s=base, backoff_max_s=ceiling)
    delay = policy.delay(attempt)
    bound = min(ceiling, base * 2 ** attempt)
    assert bound / 2 <= delay <= bound


@given(st.floats(0, 10_000))
def test_retry_after_is_capped(seconds: float) -> None:
    policy = RetryPolicy(max_retry_after_s=60)
    assert policy.delay(0, parse_retry_after(str(seconds))) == min(seconds, 60)


@given(st.floats(0.01, 5), st.floats(1.01, 3), st.floats(0.01, 30))
def test_decision_polling_intervals_grow_and_never_exceed_the_maximum(initial: float, factor: float,
                                                                     cap: float) -> None:
    poll = DecisionPoll(initial, cap, factor)
    intervals = [poll.next_interval() for _ in range(30)]
    assert intervals == sorted(intervals) or intervals[0] > cap
    assert all(i <= max(cap, initial) for i in intervals)


def test_retry_after_as_an_http_date_is_understood() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: retry at once
    assert parse_retry_after("soon") is None

