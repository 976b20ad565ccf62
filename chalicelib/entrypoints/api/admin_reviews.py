"""Admin: the human review queue (Layer C) — list, read, claim, review, escalate, dismiss."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel, StringConstraints

from chalicelib import bootstrap
from chalicelib.domain.pagination import (
    decode_cursor,
    decode_ranked_cursor,
    encode_cursor,
    encode_ranked_cursor,
)
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath, PageQuery, Reason, RequestModel
from chalicelib.services import review as review_service

bp = Blueprint(__name__)
TAG = "admin: reviews"

ReviewStatus = Literal["pending", "claimed", "reviewed", "escalated", "dismissed"]
SubjectType = Literal["submission", "problem", "evidence", "agent"]


class ReviewItemOut(BaseModel):
    id: UUID
    subject_type: str
    subject_id: UUID
    source: str
    reason: str
    details: dict[str, Any]
    priority: int
    status: ReviewStatus
    claimed_by: str | None
    claimed_at: datetime | None
    resolution: str | None
    notes: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime


class ReviewEvent(BaseModel):
    action: str
    from_status: str
    to_status: str
    actor: str
    notes: str | None
    details: dict[str, Any]
    created_at: datetime


class ReviewSubject(BaseModel):
    id: UUID
    agent_id: UUID
    kind: str
    title: str
    status: str
    decided_by: str | None


class ReviewItemDetail(ReviewItemOut):
    events: list[ReviewEvent]
    subject: ReviewSubject | None


class SubmissionEffect(BaseModel):
    submission_id: UUID
    applied: bool
    verdict: str | None = None
    previous: dict[str, str | None] | None = None
    overturn: dict[str, Any] | None = None
    reason: str | None = None


class ReviewOutcome(BaseModel):
    item: ReviewItemOut
    submission: SubmissionEffect | None


class ReviewListQuery(PageQuery):
    status: ReviewStatus | None = None
    subject_type: SubjectType | None = None
    subject_id: UUID | None = None
    agent_id: UUID | None = None
    source: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = None
    sort: Literal["oldest", "newest", "priority"] = "oldest"


class ReviewDecision(RequestModel):
    decision: Literal["approve", "reject"]
    notes: Reason


class ReviewNotes(RequestModel):
    notes: Reason


@api_route(bp, "GET", "/v1/admin/reviews",
           summary="The review queue: filter by status, subject, agent or source; oldest first, newest or by priority",
           auth="admin", tag=TAG, query=ReviewListQuery, response=ReviewItemOut, is_list=True)
def list_reviews(ctx: RequestContext) -> Reply:
    q: ReviewListQuery = ctx.query
    after: tuple[datetime, str] | None = None
    after_priority: int | None = None
    if q.cursor and q.sort == "priority":
        after_priority, when, row_id = decode_ranked_cursor(q.cursor)
        after = (when, row_id)
    elif q.cursor:
        after = decode_cursor(q.cursor)
    rows = review_service.list_items(bootstrap.unit_of_work(), status=q.status, subject_type=q.subject_type,
                                     limit=q.limit + 1, after=after,
                                     subject_id=q.subject_id, agent_id=q.agent_id, source=q.source, sort=q.sort,
                                     after_priority=after_priority)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = None
    if more and q.sort == "priority":
        next_cursor = encode_ranked_cursor(page[-1]["priority"], page[-1]["created_at"], page[-1]["id"])
    elif more:
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"])
    return Reply([ReviewItemOut.model_validate(r) for r in page],
                 meta={"next_cursor": next_cursor, "limit": q.limit})


@api_route(bp, "GET", "/v1/admin/reviews/{id}", summary="A review item with its history and subject",
           auth="admin", tag=TAG, path_params=IdPath, response=ReviewItemDetail, errors=(404,))
def get_review(ctx: RequestContext) -> ReviewItemDetail:
    return ReviewItemDetail.model_validate(review_service.get_item(bootstrap.unit_of_work(), ctx.path.id))


@api_route(bp, "POST", "/v1/admin/reviews/{id}/claim", summary="Claim a pending or escalated item",
           auth="admin", tag=TAG, path_params=IdPath, response=ReviewItemOut, errors=(404, 409))
def claim_review(ctx: RequestContext) -> ReviewItemOut:
    return ReviewItemOut.model_validate(review_service.claim(bootstrap.unit_of_work(), ctx.path.id,
                                                             actor=ctx.caller.actor))


@api_route(bp, "POST", "/v1/admin/reviews/{id}/review",
           summary="Approve or reject a claimed item; decides a submission still pending or flagged",
           auth="admin", tag=TAG, body=ReviewDecision, path_params=IdPath, response=ReviewOutcome,
           errors=(404, 409))
def review_review(ctx: RequestContext) -> ReviewOutcome:
    body: ReviewDecision = ctx.body
    item, effect = review_service.review_item(bootstrap.unit_of_work(), ctx.path.id, actor=ctx.caller.actor,
                                              decision=body.decision,
                                              notes=body.notes)
    return ReviewOutcome(item=ReviewItemOut.model_validate(item),
                         submission=SubmissionEffect.model_validate(effect) if effect else None)


@api_route(bp, "POST", "/v1/admin/reviews/{id}/escalate",
           summary="Escalate a claimed item to a senior reviewer (it can be claimed again)",
           auth="admin", tag=TAG, body=ReviewNotes, path_params=IdPath, response=ReviewItemOut, errors=(404, 409))
def escalate_review(ctx: RequestContext) -> ReviewItemOut:
    body: ReviewNotes = ctx.body
    return ReviewItemOut.model_validate(review_service.escalate(bootstrap.unit_of_work(), ctx.path.id,
                                                                actor=ctx.caller.actor, notes=body.notes))


@api_route(bp, "POST", "/v1/admin/reviews/{id}/dismiss",
           summary="Dismiss a claimed item without a decision (its subject is unchanged)",
           auth="admin", tag=TAG, body=ReviewNotes, path_params=IdPath, response=ReviewItemOut, errors=(404, 409))
def dismiss_review(ctx: RequestContext) -> ReviewItemOut:
    body: ReviewNotes = ctx.body
    return ReviewItemOut.model_validate(review_service.dismiss(bootstrap.unit_of_work(), ctx.path.id,
                                                               actor=ctx.caller.actor, notes=body.notes))
