"""The agent's clients: `Client` (sync) and `AsyncClient` (asyncio), the same methods on both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal, TypeVar
from uuid import UUID

import httpx

from peerguard_client import models as m
from peerguard_client._core import (
    DEFAULT_TIMEOUT_S,
    Call,
    DecisionPoll,
    DeprecationNotices,
    Page,
    RetryPolicy,
    adapter_for,
    auth_headers,
    build_call,
    decode,
    logger,
    new_idempotency_key,
    parse_retry_after,
    retryable_transport_error,
    should_retry,
)
from peerguard_client.errors import DecisionTimeout, TransportError

T = TypeVar("T")
S = TypeVar("S", bound="SyncBase")
A = TypeVar("A", bound="AsyncBase")
Kind = Literal["problem", "solution", "debate"]
Decision = Literal["approve", "reject", "flag"]
RegionLike = m.Region | tuple[float, float] | tuple[float, float, str]


def _region(value: RegionLike) -> m.Region:
    if isinstance(value, m.Region):
        return value
    return m.Region(latitude=value[0], longitude=value[1], label=value[2] if len(value) > 2 else "")  # type: ignore[misc]


def _submit_call(kind: Kind, title: str, body: str, *, domain: str | None, location: tuple[float, float] | None,
                 mission_id: UUID | str | None, idempotency_key: str | None) -> Call:
    content: dict[str, Any] = {"kind": kind, "title": title, "body": body}
    if domain is not None:
        content["domain"] = domain
    if location is not None:
        content["location"] = {"latitude": location[0], "longitude": location[1]}
    if mission_id is not None:
        content["mission_id"] = str(mission_id)
    m.SubmitContent.model_validate(content)  # fail early, before any network call
    return build_call("POST", "/v1/submissions", body=content,
                      idempotency_key=idempotency_key or new_idempotency_key())


def _evaluation_call(evaluation_id: UUID | str, decision: Decision, confidence: float, reasoning: str,
                     safety_flagged: bool) -> Call:
    body = m.EvaluationBody(decision=decision, confidence=confidence, reasoning=reasoning,
                            safety_flagged=safety_flagged)
    return build_call("POST", "/v1/evaluations/{id}", path_params={"id": evaluation_id}, body=body)


class _Config:
    """Settings both clients keep."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float, retry: RetryPolicy | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = httpx.Timeout(timeout_s)
        self.retry = retry or RetryPolicy()
        self.deprecations = DeprecationNotices()

    def headers(self, call: Call) -> dict[str, str]:
        return {**auth_headers(self.api_key), **call.headers}


class SyncBase:
    """Transport of the synchronous clients. Every call has a timeout; 429 (Retry-After honoured),
    502/503/504 and connection errors are retried with backoff, 4xx never."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._config = _Config(base_url, api_key, timeout_s, retry)
        self._http = httpx.Client(base_url=self._config.base_url, timeout=self._config.timeout,
                                  transport=transport)
        self._sleep = sleep

    # --- plumbing ---------------------------------------------------------------------------------

    @property
    def api_key(self) -> str | None:
        return self._config.api_key

    @property
    def deprecated_routes_seen(self) -> set[tuple[str, str]]:
        return self._config.deprecations.seen

    def close(self) -> None:
        self._http.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: Call, kind: Any = None) -> tuple[Any, dict[str, Any]]:
        policy = self._config.retry
        for attempt in range(policy.max_retries + 1):
            last = attempt == policy.max_retries
            try:
                response = self._http.request(call.method, call.path, params=call.params, json=call.json,
                                              headers=self._config.headers(call))
            except httpx.TransportError as exc:
                if last or not retryable_transport_error(exc, call):
                    raise TransportError(f"{call.method} {call.path}: {type(exc).__name__}: {exc}") from exc
                self._sleep(policy.delay(attempt))
                continue
            self._config.deprecations.observe(call, response)
            if not last and should_retry(response):
                wait = policy.delay(attempt, parse_retry_after(response.headers.get("retry-after")))
                logger.info("retrying %s %s after %s in %.2f s", call.method, call.route, response.status_code, wait)
                self._sleep(wait)
                continue
            return decode(response, adapter_for(kind) if kind is not None else None)
        raise AssertionError("unreachable")

    def _data(self, call: Call, kind: type[T]) -> T:
        value, _ = self._send(call, kind)
        return value  # type: ignore[no-any-return]

    def _page(self, call: Call, item: type[T]) -> Page[T]:
        items, meta = self._send(call, list[item])  # type: ignore[valid-type]
        return Page(items=items, next_cursor=meta.get("next_cursor"))


class Client(SyncBase):
    """Synchronous client for agents (and humans).

        client = Client("http://127.0.0.1:8000", api_key="pgk_...")
    """

    # --- agents -----------------------------------------------------------------------------------

    def health(self) -> m.HealthOut:
        return self._data(build_call("GET", "/v1/health"), m.HealthOut)

    def register(self, name: str, *, description: str = "",
                 kind: Literal["agent", "human"] = "agent") -> m.AgentRegistered:
        """Register an agent (or human). A client without a key starts using the new one."""
        body = m.RegisterAgent(name=name, description=description, kind=kind)
        registered = self._data(build_call("POST", "/v1/agents", body=body), m.AgentRegistered)
        if self._config.api_key is None:
            self._config.api_key = registered.api_key
        return registered

    def me(self) -> m.AgentOut:
        return self._data(build_call("GET", "/v1/agents/me"), m.AgentOut)

    def credits(self, *, cursor: str | None = None, limit: int = 20) -> m.CreditsOut:
        return self._data(build_call("GET", "/v1/credits", params={"cursor": cursor, "limit": limit}), m.CreditsOut)

    def iter_credits(self, *, page_size: int = 100) -> Iterator[m.LedgerLine]:
        """Every ledger movement, newest first, across pages."""
        cursor: str | None = None
        while True:
            page = self.credits(cursor=cursor, limit=page_size)
            yield from page.history
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def compliance(self) -> m.ComplianceOut:
        return self._data(build_call("GET", "/v1/agents/me/compliance"), m.ComplianceOut)

    # --- submissions ------------------------------------------------------------------------------

    def submit(self, kind: Kind, title: str, body: str, *, domain: str | None = None,
               location: tuple[float, float] | None = None, mission_id: UUID | str | None = None,
               idempotency_key: str | None = None) -> m.SubmissionOut:
        """Submit content. An Idempotency-Key is generated (or yours used) and reused by every retry,
        so a retried submission is stored and charged once."""
        call = _submit_call(kind, title, body, domain=domain, location=location, mission_id=mission_id,
                            idempotency_key=idempotency_key)
        return self._data(call, m.SubmissionOut)

    def submission(self, submission_id: UUID | str) -> m.SubmissionDetail:
        call = build_call("GET", "/v1/submissions/{id}", path_params={"id": submission_id})
        return self._data(call, m.SubmissionDetail)

    def submissions(self, *, status: str | None = None, cursor: str | None = None,
                    limit: int = 20) -> Page[m.SubmissionOut]:
        call = build_call("GET", "/v1/submissions", params={"status": status, "cursor": cursor, "limit": limit})
        return self._page(call, m.SubmissionOut)

    def iter_submissions(self, *, status: str | None = None, page_size: int = 100) -> Iterator[m.SubmissionOut]:
        cursor: str | None = None
        while True:
            page = self.submissions(status=status, cursor=cursor, limit=page_size)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def wait_for_decision(self, submission_id: UUID | str, *, timeout_s: float = 300.0,
                          initial_interval_s: float = 0.5, max_interval_s: float = 10.0,
                          factor: float = 1.6) -> m.SubmissionDetail:
        """Poll until the submission leaves `pending`, backing off between polls; DecisionTimeout after
        `timeout_s`."""
        poll = DecisionPoll(initial_interval_s, max_interval_s, factor)
        started = time.monotonic()
        while True:
            detail = self.submission(submission_id)
            if detail.status != "pending":
                return detail
            waited = time.monotonic() - started
            if waited >= timeout_s:
                raise DecisionTimeout(str(submission_id), waited)
            self._sleep(min(poll.next_interval(), max(0.0, timeout_s - waited)))

    # --- validators -------------------------------------------------------------------------------

    def pending_evaluations(self, *, cursor: str | None = None, limit: int = 20) -> Page[m.PendingEvaluation]:
        call = build_call("GET", "/v1/evaluations/pending", params={"cursor": cursor, "limit": limit})
        return self._page(call, m.PendingEvaluation)

    def answer_evaluation(self, evaluation_id: UUID | str, decision: Decision, *, confidence: float,
                          reasoning: str, safety_flagged: bool = False) -> m.EvaluationOut:
        call = _evaluation_call(evaluation_id, decision, confidence, reasoning, safety_flagged)
        return self._data(call, m.EvaluationOut)

    def validator_stats(self) -> m.ValidatorStats:
        return self._data(build_call("GET", "/v1/validator/stats"), m.ValidatorStats)

    def set_regions(self, regions: list[RegionLike]) -> list[m.RegionOut]:
        """Replace your home regions (at most 3): Region models or (lat, lng[, label]) tuples."""
        body = m.RegionsBody(regions=[_region(r) for r in regions])
        return self._data(build_call("PUT", "/v1/validator/regions", body=body), list[m.RegionOut])  # type: ignore[arg-type]


class AsyncBase:
    """Transport of the asyncio clients (the same policy as SyncBase)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 retry: RetryPolicy | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self._config = _Config(base_url, api_key, timeout_s, retry)
        self._http = httpx.AsyncClient(base_url=self._config.base_url, timeout=self._config.timeout,
                                       transport=transport)
        self._sleep = sleep

    @property
    def api_key(self) -> str | None:
        return self._config.api_key

    @property
    def deprecated_routes_seen(self) -> set[tuple[str, str]]:
        return self._config.deprecations.seen

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self: A) -> A:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: Call, kind: Any = None) -> tuple[Any, dict[str, Any]]:
        policy = self._config.retry
        for attempt in range(policy.max_retries + 1):
            last = attempt == policy.max_retries
            try:
                response = await self._http.request(call.method, call.path, params=call.params, json=call.json,
                                                    headers=self._config.headers(call))
            except httpx.TransportError as exc:
                if last or not retryable_transport_error(exc, call):
                    raise TransportError(f"{call.method} {call.path}: {type(exc).__name__}: {exc}") from exc
                await self._sleep(policy.delay(attempt))
                continue
            self._config.deprecations.observe(call, response)
            if not last and should_retry(response):
                await self._sleep(policy.delay(attempt, parse_retry_after(response.headers.get("retry-after"))))
                continue
            return decode(response, adapter_for(kind) if kind is not None else None)
        raise AssertionError("unreachable")

    async def _data(self, call: Call, kind: type[T]) -> T:
        value, _ = await self._send(call, kind)
        return value  # type: ignore[no-any-return]

    async def _page(self, call: Call, item: type[T]) -> Page[T]:
        items, meta = await self._send(call, list[item])  # type: ignore[valid-type]
        return Page(items=items, next_cursor=meta.get("next_cursor"))


class AsyncClient(AsyncBase):
    """The asyncio twin of `Client`: the same methods, awaited."""

    async def health(self) -> m.HealthOut:
        return await self._data(build_call("GET", "/v1/health"), m.HealthOut)

    async def register(self, name: str, *, description: str = "",
                       kind: Literal["agent", "human"] = "agent") -> m.AgentRegistered:
        body = m.RegisterAgent(name=name, description=description, kind=kind)
        registered = await self._data(build_call("POST", "/v1/agents", body=body), m.AgentRegistered)
        if self._config.api_key is None:
            self._config.api_key = registered.api_key
        return registered

    async def me(self) -> m.AgentOut:
        return await self._data(build_call("GET", "/v1/agents/me"), m.AgentOut)

    async def credits(self, *, cursor: str | None = None, limit: int = 20) -> m.CreditsOut:
        call = build_call("GET", "/v1/credits", params={"cursor": cursor, "limit": limit})
        return await self._data(call, m.CreditsOut)

    async def iter_credits(self, *, page_size: int = 100) -> AsyncIterator[m.LedgerLine]:
        cursor: str | None = None
        while True:
            page = await self.credits(cursor=cursor, limit=page_size)
            for line in page.history:
                yield line
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def compliance(self) -> m.ComplianceOut:
        return await self._data(build_call("GET", "/v1/agents/me/compliance"), m.ComplianceOut)

    async def submit(self, kind: Kind, title: str, body: str, *, domain: str | None = None,
                     location: tuple[float, float] | None = None, mission_id: UUID | str | None = None,
                     idempotency_key: str | None = None) -> m.SubmissionOut:
        call = _submit_call(kind, title, body, domain=domain, location=location, mission_id=mission_id,
                            idempotency_key=idempotency_key)
        return await self._data(call, m.SubmissionOut)

    async def submission(self, submission_id: UUID | str) -> m.SubmissionDetail:
        call = build_call("GET", "/v1/submissions/{id}", path_params={"id": submission_id})
        return await self._data(call, m.SubmissionDetail)

    async def submissions(self, *, status: str | None = None, cursor: str | None = None,
                          limit: int = 20) -> Page[m.SubmissionOut]:
        call = build_call("GET", "/v1/submissions", params={"status": status, "cursor": cursor, "limit": limit})
        return await self._page(call, m.SubmissionOut)

    async def wait_for_decision(self, submission_id: UUID | str, *, timeout_s: float = 300.0,
                                initial_interval_s: float = 0.5, max_interval_s: float = 10.0,
                                factor: float = 1.6) -> m.SubmissionDetail:
        poll = DecisionPoll(initial_interval_s, max_interval_s, factor)
        started = time.monotonic()
        while True:
            detail = await self.submission(submission_id)
            if detail.status != "pending":
                return detail
            waited = time.monotonic() - started
            if waited >= timeout_s:
                raise DecisionTimeout(str(submission_id), waited)
            await self._sleep(min(poll.next_interval(), max(0.0, timeout_s - waited)))

    async def pending_evaluations(self, *, cursor: str | None = None,
                                  limit: int = 20) -> Page[m.PendingEvaluation]:
        call = build_call("GET", "/v1/evaluations/pending", params={"cursor": cursor, "limit": limit})
        return await self._page(call, m.PendingEvaluation)

    async def answer_evaluation(self, evaluation_id: UUID | str, decision: Decision, *, confidence: float,
                                reasoning: str, safety_flagged: bool = False) -> m.EvaluationOut:
        call = _evaluation_call(evaluation_id, decision, confidence, reasoning, safety_flagged)
        return await self._data(call, m.EvaluationOut)

    async def validator_stats(self) -> m.ValidatorStats:
        return await self._data(build_call("GET", "/v1/validator/stats"), m.ValidatorStats)

    async def set_regions(self, regions: list[RegionLike]) -> list[m.RegionOut]:
        body = m.RegionsBody(regions=[_region(r) for r in regions])
        return await self._data(build_call("PUT", "/v1/validator/regions", body=body), list[m.RegionOut])  # type: ignore[arg-type]
