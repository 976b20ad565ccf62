"""Evaluations: a validator reads what it was asked to review and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import bootstrap
from chalicelib.domain.pagination import decode_cursor, encode_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath, PageQuery, RequestModel, SafeText
from chalicelib.services import evaluations

bp = Blueprint(__name__)

Reasoning = Annotated[SafeText, Field(min_length=1, max_length=2000)]


class EvaluationBody(RequestModel):
    decision: Literal["approve", "reject", "flag"]
    confidence: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    reasoning: Reasoning
    safety_flagged: bool = False


class ContentToReview(BaseModel):
    id: UUID
    kind: str
    title: str
    body: str
    domain: str | None
    location: dict[str, float] | None


class PendingEvaluation(BaseModel):
    id: UUID
    submission: ContentToReview
    assigned_at: datetime
    expires_at: datetime


class EvaluationOut(BaseModel):
    id: UUID
    submission_id: UUID
    status: Literal["pending", "answered", "expired", "cancelled"]
    decision: Literal["approve", "reject", "flag"] | None
    confidence: float | None
    reasoning: str | None
    safety_flagged: bool | None
    assigned_at: datetime
    expires_at: datetime
    responded_at: datetime | None
    quorum_reached: bool


def uuid_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """A keyset cursor whose id must be a UUID (a forged one is a validation error, never a SQL error)."""
    if cursor is None:
        return None
    return decode_cursor(cursor)


def _pending_out(row: dict[str, Any]) -> PendingEvaluation:
    location = None
    if row["latitude"] is not None:
        location = {"latitude": row["latitude"], "longitude": row["longitude"]}
    return PendingEvaluation(
        id=row["id"], assigned_at=row["assigned_at"], expires_at=row["expires_at"],
        submission=ContentToReview(id=row["submission_id"], kind=row["kind"], title=row["title"], body=row["body"],
                                   domain=row["domain"], location=location),
    )


@api_route(bp, "GET", "/v1/evaluations/pending", summary="Your open evaluations with the content to review",
           auth="agent", tag="evaluations", query=PageQuery, response=PendingEvaluation, is_list=True)
def pending(ctx: RequestContext) -> Reply:
    q: PageQuery = ctx.query
    after = uuid_cursor(q.cursor)
    rows = evaluations.pending_evaluations(bootstrap.unit_of_work(), ctx.caller, limit=q.limit + 1, after=after)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["assigned_at"], page[-1]["id"]) if more else None
    return Reply([_pending_out(r) for r in page], meta={"next_cursor": next_cursor, "limit": q.limit})


@api_route(bp, "POST", "/v1/evaluations/{id}", summary="Answer an evaluation (approve, reject or flag)",
           auth="agent", tag="evaluations", path_params=IdPath, body=EvaluationBody, response=EvaluationOut,
           errors=(403, 404, 409, 410))
def answer(ctx: RequestContext) -> EvaluationOut:
    body: EvaluationBody = ctx.body
    done = evaluations.answer_evaluation(bootstrap.unit_of_work(),
        ctx.caller, ctx.path.id,
        evaluations.EvaluationAnswer(decision=body.decision, confidence=body.confidence,
                                         reasoning=body.reasoning, safety_flagged=body.safety_flagged),
    )
    e = done.evaluation
    return EvaluationOut(
        id=e["id"], submission_id=e["submission_id"], status=e["status"], decision=e["decision"],
        confidence=e["confidence"], reasoning=e["reasoning"], safety_flagged=e["safety_flagged"],
        assigned_at=e["assigned_at"], expires_at=e["expires_at"], responded_at=e["responded_at"],
        quorum_reached=done.quorum_reached,
    )
