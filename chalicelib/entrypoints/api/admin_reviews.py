"""Admin: the human review queue (Layer C) — list, read, claim, review, escalate, dismiss."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel

from chalicelib import bootstrap
from chalicelib.domain.pagination import decode_cursor, encode_cursor
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


class ReviewDecision(RequestModel):
    decision: Literal["approve", "reject"]
    notes: Reason


class ReviewNotes(RequestModel):
    notes: Reason


@api_route(bp, "GET", "/v1/admin/reviews", summary="The review queue, oldest first", auth="admin", tag=TAG,
           query=ReviewListQuery, response=ReviewItemOut, is_list=True)
def list_reviews(ctx: RequestContext) -> Reply:
    q: ReviewListQuery = ctx.query
    after = decode_cursor(q.cursor) if q.cursor else None
    rows = review_service.list_items(bootstrap.unit_of_work(), status=q.status, subject_type=q.subject_type,
                                     limit=q.limit + 1, after=after)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
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
