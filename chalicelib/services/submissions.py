"""Use case: an agent submits content. Layer A, persistence and the guardrail message in one transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from chalicelib.domain import layer_a
from chalicelib.domain.errors import Conflict, GuardrailRejected, NotFound
from chalicelib.domain.principal import Principal
from chalicelib.observability import emit
from chalicelib.services import economy, personal_data
from chalicelib.services.unit_of_work import UniqueViolation, UnitOfWork


@dataclass(frozen=True)
class SubmissionDraft:
    kind: str
    title: str
    body: str
    domain: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    mission_id: UUID | None = None

    def request_hash(self) -> str:
        canonical = json.dumps(
            [self.kind, self.title, self.body, self.domain, self.latitude, self.longitude,
             str(self.mission_id) if self.mission_id else None],
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class SubmitOutcome:
    submission: dict[str, Any]
    replayed: bool  # True when an Idempotency-Key returned an earlier result
    outbox_ids: tuple[int, ...] = ()


def content_hash(kind: str, title: str, body: str) -> str:
    return hashlib.sha256(f"{kind}\x00{title}\x00{body}".encode()).hexdigest()


def submit_content(
    uow: UnitOfWork, principal: Principal,
    draft: SubmissionDraft,
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> SubmitOutcome:
    """Screen with Layer A, then store the submission and its guardrail message atomically.

    A Layer A hard block is stored as rejected (for the compliance record), charges nothing and raises
    GuardrailRejected. A retried request with the same Idempotency-Key returns the first result; the
    same key with a different body is a Conflict.

    Round trips and the fee sink: the agent's unique (agent_id, idempotency_key) decides whether a key
    is new (no look-up before the insert); the row (with the cost it will pay) and its trail entry go
    in one statement; the fee's accounts are locked last, just before the post and the commit, so that
    the sink shard the fee updates (one of 16, by the fee's key) is held as briefly as possible.
    Insert, enqueue, lock, post, commit; a hardship waiver (rare) adds one statement that zeroes the
    stored cost.
    """
    assert principal.agent_id is not None
    now = now or uow.clock.now()
    request_hash = draft.request_hash()
    title_scan = layer_a.evaluate(draft.title)
    body_scan = layer_a.evaluate(draft.body)
    blocked = title_scan.blocked or body_scan.blocked
    submission_id = uuid4()
    values: dict[str, Any] = {
        "id": submission_id,
        "agent_id": principal.agent_id,
        "kind": draft.kind,
        "title": title_scan.masked_text,
        "body": body_scan.masked_text,
        "domain": draft.domain,
        "latitude": draft.latitude,
        "longitude": draft.longitude,
        "mission_id": draft.mission_id,
        "content_hash": content_hash(draft.kind, draft.title, draft.body),
        "status": "rejected" if blocked else "pending",
        "decided_by": "layer_a" if blocked else None,
        "decided_at": now if blocked else None,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "correlation_id": correlation_id,
        "created_at": now,
    }
    verdict: dict[str, Any] = {
        "blocked": blocked,
        "title": title_scan.to_dict(),
        "body": body_scan.to_dict(),
        "categories": sorted(set(title_scan.categories) | set(body_scan.categories)),
        # what was masked, by field, kind and position in the original (the original is kept encrypted)
        "masked": personal_data.masked_spans("title", title_scan) + personal_data.masked_spans("body", body_scan),
    }
    try:
        with uow:
            if draft.mission_id is not None:
                _check_mission(uow, draft.mission_id, now)
            due = None if blocked else economy.submission_fee_due(uow, draft.kind)
            values["cost_millicredits"] = due or 0
            inserted = uow.submissions.insert_screened(values, "layer_a", verdict)
            if inserted is None:
                raise _KeyTaken  # nothing written; the first result answers below
            row = inserted
            personal_data.keep_original(uow, submission_id, title=draft.title, body=draft.body,
                                        title_scan=title_scan, body_scan=body_scan)
            outbox_ids: tuple[int, ...] = ()
            if not blocked:
                outbox_ids = (uow.outbox.enqueue("guardrail", {"submission_id": str(submission_id)},
                                             correlation_id=correlation_id),)
            fee = economy.decide_submission_fee(uow, principal, draft.kind, submission_id) if due is not None else None
            charged = economy.post_submission_fee(uow, principal, row, fee) if fee is not None else 0
            if charged != row["cost_millicredits"]:  # a hardship waiver, or the flags moved meanwhile
                uow.submissions.set_cost(submission_id, charged)
                row["cost_millicredits"] = charged
    except (_KeyTaken, UniqueViolation, NotFound, Conflict):
        # The key was used before (or by a concurrent retry), or the retry of a mission submission finds
        # the mission closed since: answer with the first result when there is one.
        if idempotency_key is None:
            raise
        earlier = _replay(uow, principal.agent_id, idempotency_key, request_hash)
        if earlier is None:
            raise
        return earlier
    emit("Submissions", Kind=draft.kind)
    if blocked:
        emit("Decisions", Path="layer_a")
        raise _rejection(row, verdict["categories"])
    return SubmitOutcome(submission=row, replayed=False, outbox_ids=outbox_ids)


class _KeyTaken(Exception):
    """The Idempotency-Key is already taken: nothing was written, the earlier result answers."""


def _check_mission(uow: UnitOfWork, mission_id: UUID, now: datetime) -> None:
    """A submission may name only an existing mission that is open and not expired (404 / 409)."""
    mission = uow.hyperlocal.get_mission(mission_id, for_share=True)
    if mission is None:
        raise NotFound("mission not found", details={"field": "mission_id"})
    if mission["status"] != "open" or mission["expires_at"] <= now:
        raise Conflict("the mission is closed or expired",
                       details={"field": "mission_id", "status": mission["status"],
                                "expires_at": mission["expires_at"].isoformat()})


def _rejection(row: dict[str, Any], categories: list[str]) -> GuardrailRejected:
    return GuardrailRejected(
        "content matches forbidden patterns",
        details={"submission_id": str(row["id"]), "categories": categories},
    )


def _replay(uow: UnitOfWork, agent_id: UUID, key: str, request_hash: str) -> SubmitOutcome | None:
    with uow:
        row = uow.submissions.find_by_idempotency_key(agent_id, key)
        trail = uow.submissions.trail(row["id"]) if row else []
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise Conflict("Idempotency-Key was used with a different request",
                       details={"idempotency_key": key})
    if row["decided_by"] == "layer_a":
        layer_a_verdict: dict[str, Any] = next((t["verdict"] for t in trail if t["stage"] == "layer_a"), {})
        rejection = _rejection(row, list(layer_a_verdict.get("categories", [])))
        rejection.headers["Idempotent-Replayed"] = "true"  # the replay of a 422 says so like any replay
        raise rejection
    return SubmitOutcome(submission=row, replayed=True)


def get_submission(uow: UnitOfWork, principal: Principal, submission_id: UUID) -> dict[str, Any]:
    """A submission with its decision trail; agents see their own, admins see all.

    Only these two readers ever get `original`: the author's unmasked text, decrypted (None when
    Layer A masked nothing)."""
    with uow:
        row = uow.submissions.get(submission_id)
        if row is None or (principal.role != "admin" and row["agent_id"] != principal.agent_id):
            raise NotFound("submission not found")
        trail = uow.submissions.trail(submission_id)
        original = personal_data.read_original(uow, submission_id)
    return {**row, "trail": trail, "original": original}


def list_submissions(
    uow: UnitOfWork, principal: Principal, *, limit: int, before: tuple[datetime, str] | None, status: str | None
) -> list[dict[str, Any]]:
    """The caller's submissions, newest first (keyset page)."""
    assert principal.agent_id is not None
    with uow:
        return uow.submissions.list_for_agent(principal.agent_id, limit=limit, before=before,
                                               status=status)
