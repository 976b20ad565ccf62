"""Use cases of the human review queue (Layer C): list, read, claim, review, escalate, dismiss.

Each action is one transaction: lock the item, check the transition (409 otherwise), write the
new status and an audit event; a review of a submission item also decides the submission.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chalicelib.adapters import agents_repo, review_repo, submissions_repo
from chalicelib.db.pool import Connection, transaction
from chalicelib.domain import review
from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.observability import emit, logger, metrics


def list_items(
    *, status: str | None, subject_type: str | None, limit: int, after: tuple[datetime, str] | None,
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
    with transaction() as conn:
        return review_repo.list_items(conn, status=status, subject_type=subject_type, limit=limit, after=after,
                                      subject_id=subject_id, agent_id=agent_id, source=source, sort=sort,
                                      after_priority=after_priority)


def get_item(item_id: UUID) -> dict[str, Any]:
    """One item with its history and, for a submission item, the submission's current state."""
    with transaction() as conn:
        item = _item(conn, item_id)
        history = review_repo.events(conn, item_id)
        subject = None
        if item["subject_type"] == "submission":
            sub = submissions_repo.get(conn, item["subject_id"])
            if sub is not None:
                subject = {key: sub[key] for key in ("id", "agent_id", "kind", "title", "status", "decided_by")}
    return {**item, "events": history, "subject": subject}


def claim(item_id: UUID, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Take an item (pending, or escalated to a senior) for review."""
    now = now or datetime.now(UTC)
    item, _ = _act(item_id, "claim", actor, now, notes=None,
                   values={"claimed_by": actor, "claimed_at": now})
    return item


def escalate(item_id: UUID, *, actor: str, notes: str, now: datetime | None = None) -> dict[str, Any]:
    """Hand a claimed item up: it leaves the reviewer and waits for a senior to claim it."""
    now = now or datetime.now(UTC)
    item, _ = _act(item_id, "escalate", actor, now, notes=notes,
                   values={"claimed_by": None, "claimed_at": None, "notes": notes})
    return item


def dismiss(item_id: UUID, *, actor: str, notes: str, now: datetime | None = None) -> dict[str, Any]:
    """Close a claimed item without a decision (duplicate, nothing to do); the subject is unchanged."""
    now = now or datetime.now(UTC)
    item, _ = _act(item_id, "dismiss", actor, now, notes=notes,
                   values={"resolution": "dismissed", "notes": notes, "resolved_by": actor, "resolved_at": now})
    return item


def review_item(
    item_id: UUID, *, actor: str, decision: review.Decision, notes: str, now: datetime | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Decide a claimed item: approve or reject, with notes. Returns the item and, for a submission
    item, the effect on the submission.

    A submission still pending or flagged takes the verdict (``decided_by`` admin, trail stage
    ``admin_review``). A submission already decided keeps its status; when the verdict contradicts
    an automatic approval or rejection, the overturn is recorded in its trail, and an overturned
    approval counts in the agent's compliance score.
    """
    now = now or datetime.now(UTC)

    def effect(conn: Connection, item: dict[str, Any]) -> dict[str, Any] | None:
        if item["subject_type"] != "submission":
            return None
        return _decide_submission(conn, item, decision, now)

    return _act(item_id, "review", actor, now, notes=notes,
                values={"resolution": decision, "notes": notes, "resolved_by": actor, "resolved_at": now},
                effect=effect)


def _act(
    item_id: UUID,
    action: review.Action,
    actor: str,
    now: datetime,
    *,
    notes: str | None,
    values: dict[str, Any],
    effect: Callable[[Connection, dict[str, Any]], dict[str, Any] | None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    with transaction() as conn:
        item = _item(conn, item_id, for_update=True)
        target = review.transition(item["status"], action, claimed_by=item["claimed_by"], actor=actor)
        outcome = effect(conn, item) if effect else None
        updated = review_repo.update_item(conn, item_id, {**values, "status": target})
        review_repo.add_event(conn, item_id, action=action, from_status=item["status"], to_status=target,
                              actor=actor, notes=notes, details=_json_safe(outcome), now=now)
    metrics.add_metric(name="ReviewActions", unit="Count", value=1)
    logger.info("review_item_transition", extra={"item_id": str(item_id), "action": action,
                                                  "from": item["status"], "to": target, "actor": actor})
    return updated, outcome


def _item(conn: Connection, item_id: UUID, *, for_update: bool = False) -> dict[str, Any]:
    item = review_repo.get(conn, item_id, for_update=for_update)
    if item is None:
        raise NotFound("review item not found", details={"id": str(item_id)})
    return item


def _decide_submission(
    conn: Connection, item: dict[str, Any], decision: review.Decision, now: datetime
) -> dict[str, Any]:
    submission_id = item["subject_id"]
    sub = submissions_repo.get(conn, submission_id, for_update=True)
    if sub is None:
        return {"submission_id": str(submission_id), "applied": False, "reason": "submission_missing"}
    verdict = review.DECISION_VERDICT[decision]
    applied = False
    if sub["status"] in review.OPEN_SUBMISSION_STATUSES:
        applied = submissions_repo.decide_open(conn, submission_id, status=verdict, decided_by="admin", now=now)
        if applied and verdict == "approved":
            agents_repo.add_approval(conn, sub["agent_id"])
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
    submissions_repo.add_trail(conn, submission_id, "admin_review",
                               {**outcome, "source": item["source"], "reason": item["reason"]})
    if overturn is not None:
        logger.info("admin_overturn", extra={"submission_id": str(submission_id), **overturn.to_dict()})
    return outcome


def _json_safe(value: dict[str, Any] | None) -> dict[str, Any]:
    return dict(value) if value else {}
