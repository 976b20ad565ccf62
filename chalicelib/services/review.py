"""Use cases of the human review queue (Layer C): list, read, claim, review, escalate, dismiss.

Each action is one transaction: lock the item, check the transition (409 otherwise), write the
new status and an audit event; a review of a submission item also decides the submission.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chalicelib.domain import review
from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.observability import emit, logger, metrics
from chalicelib.services.unit_of_work import UnitOfWork


def list_items(
    uow: UnitOfWork, *, status: str | None, subject_type: str | None, limit: int, after: tuple[datetime, str] | None,
    subject_id: UUID | None = None, agent_id: UUID | None = None, source: str | None = None,
    sort: str = "oldest", after_priority: int | None = None,
) -> list[dict[str, Any]]:
    """Queue items, filtered, in the ``sort`` order (oldest first by default), keyset page after ``after``."""
    if after is not None:
        try:
            UUID(after[1])
        except ValueError:
            raise ValidationFailed(
                "cursor is not valid", details=[{"field": "cursor", "message": "malformed cursor"}]
            ) from None
    with uow:
        return uow.review.list_items(status=status, subject_type=subject_type, limit=limit, after=after,
                                     subject_id=subject_id, agent_id=agent_id, source=source, sort=sort,
                                     after_priority=after_priority)


def get_item(uow: UnitOfWork, item_id: UUID) -> dict[str, Any]:
    """One item with its history and, for a submission item, the submission's current state."""
    with uow:
        item = _item(uow, item_id)
        history = uow.review.events(item_id)
        subject = None
        if item["subject_type"] == "submission":
            sub = uow.submissions.get(item["subject_id"])
            if sub is not None:
                subject = {key: sub[key] for key in ("id", "agent_id", "kind", "title", "status", "decided_by")}
    return {**item, "events": history, "subject": subject}


def claim(uow: UnitOfWork, item_id: UUID, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Take an item (pending, or escalated to a senior) for review."""
    now = now or datetime.now(UTC)
    item, _ = _act(uow, item_id, "claim", actor, now, notes=None,
                   values={"claimed_by": actor, "claimed_at": now})
    return item


def escalate(uow: UnitOfWork, item_id: UUID, *, actor: str, notes: str, now: datetime | None = None) -> dict[str, Any]:
    """Hand a claimed item up: it leaves the reviewer and waits for a senior to claim it."""
    now = now or datetime.now(UTC)
    item, _ = _act(uow, item_id, "escalate", actor, now, notes=notes,
                   values={"claimed_by": None, "claimed_at": None, "notes": notes})
    return item


def dismiss(uow: UnitOfWork, item_id: UUID, *, actor: str, notes: str, now: datetime | None = None) -> dict[str, Any]:
    """Close a claimed item without a decision (duplicate, nothing to do); the subject is unchanged."""
    now = now or datetime.now(UTC)
    item, _ = _act(uow, item_id, "dismiss", actor, now, notes=notes,
                   values={"resolution": "dismissed", "notes": notes, "resolved_by": actor, "resolved_at": now})
    return item


def review_item(
    uow: UnitOfWork, item_id: UUID, *, actor: str, decision: review.Decision, notes: str, now: datetime | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Decide a claimed item: approve or reject, with notes. Returns the item and, for a submission
    item, the effect on the submission.

    A submission still pending or flagged takes the verdict (``decided_by`` admin, trail stage
    ``admin_review``). A submission already decided keeps its status; when the verdict contradicts
    an automatic approval or rejection, the overturn is recorded in its trail, and an overturned
    approval counts in the agent's compliance score.
    """
    now = now or datetime.now(UTC)

    def effect(uow: UnitOfWork, item: dict[str, Any]) -> dict[str, Any] | None:
        if item["subject_type"] != "submission":
            return None
        return _decide_submission(uow, item, decision, now)

    return _act(uow, item_id, "review", actor, now, notes=notes,
                values={"resolution": decision, "notes": notes, "resolved_by": actor, "resolved_at": now},
                effect=effect)


def _act(
    uow: UnitOfWork, item_id: UUID,
    action: review.Action,
    actor: str,
    now: datetime,
    *,
    notes: str | None,
    values: dict[str, Any],
    effect: Callable[[UnitOfWork, dict[str, Any]], dict[str, Any] | None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    with uow:
        item = _item(uow, item_id, for_update=True)
        target = review.transition(item["status"], action, claimed_by=item["claimed_by"], actor=actor)
        outcome = effect(uow, item) if effect else None
        updated = uow.review.update_item(item_id, {**values, "status": target})
        uow.review.add_event(item_id, action=action, from_status=item["status"], to_status=target,
                              actor=actor, notes=notes, details=_json_safe(outcome), now=now)
    metrics.add_metric(name="ReviewActions", unit="Count", value=1)
    logger.info("review_item_transition", extra={"item_id": str(item_id), "action": action,
                                                  "from": item["status"], "to": target, "actor": actor})
    return updated, outcome


def _item(uow: UnitOfWork, item_id: UUID, *, for_update: bool = False) -> dict[str, Any]:
    item = uow.review.get(item_id, for_update=for_update)
    if item is None:
        raise NotFound("review item not found", details={"id": str(item_id)})
    return item


def _decide_submission(
    uow: UnitOfWork, item: dict[str, Any], decision: review.Decision, now: datetime
) -> dict[str, Any]:
    submission_id = item["subject_id"]
    sub = uow.submissions.get(submission_id, for_update=True)
    if sub is None:
        return {"submission_id": str(submission_id), "applied": False, "reason": "submission_missing"}
    verdict = review.DECISION_VERDICT[decision]
    applied = False
    if sub["status"] in review.OPEN_SUBMISSION_STATUSES:
        applied = uow.submissions.decide_open(submission_id, status=verdict, decided_by="admin", now=now)
        if applied and verdict == "approved":
            uow.agents.add_approval(sub["agent_id"])
        if applied:
            emit("Decisions", Path="admin")
    overturn = None if applied else review.overturn_of(sub["status"], sub["decided_by"], verdict)
    outcome: dict[str, Any] = {
        "submission_id": str(submission_id),
        "review_item_id": str(item["id"]),
        "decision": decision,
        "verdict": verdict,
        "applied": applied,
        "previous": {"status": sub["status"], "decided_by": sub["decided_by"]},
        "overturn": overturn.to_dict() if overturn else None,
    }
    uow.submissions.add_trail(submission_id, "admin_review",
                               {**outcome, "source": item["source"], "reason": item["reason"]})
    if overturn is not None:
        logger.info("admin_overturn", extra={"submission_id": str(submission_id), **overturn.to_dict()})
    return outcome


def _json_safe(value: dict[str, Any] | None) -> dict[str, Any]:
    return dict(value) if value else {}
