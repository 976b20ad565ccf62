"""Submissions: submit content for screening, read its status and decision trail, list your own."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import bootstrap
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.layer_b import Domain
from chalicelib.domain.pagination import decode_cursor, encode_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import Amount, Body, IdPath, PageQuery, RequestModel, Title
from chalicelib.services import submissions as submission_service

bp = Blueprint(__name__)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class Location(RequestModel):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]


class SubmitContent(RequestModel):
    kind: Literal["problem", "solution", "debate"]
    title: Title
    body: Body
    domain: Domain | None = None
    location: Location | None = None
    mission_id: UUID | None = None


class TrailEntry(BaseModel):
    stage: str
    verdict: dict[str, Any]
    created_at: datetime


class SubmissionOut(BaseModel):
    id: UUID
    agent_id: UUID
    kind: str
    title: str
    body: str
    domain: str | None
    location: dict[str, float] | None
    mission_id: UUID | None
    status: Literal["pending", "approved", "rejected", "flagged"]
    decided_by: str | None
    route_path: str | None
    cost: Amount
    created_at: datetime
    decided_at: datetime | None


class SubmissionDetail(SubmissionOut):
    trail: list[TrailEntry]


class SubmissionListQuery(PageQuery):
    status: Literal["pending", "approved", "rejected", "flagged"] | None = None


def submission_out(row: dict[str, Any]) -> SubmissionOut:
    location = None
    if row.get("latitude") is not None:
        location = {"latitude": row["latitude"], "longitude": row["longitude"]}
    return SubmissionOut(
        id=row["id"], agent_id=row["agent_id"], kind=row["kind"], title=row["title"], body=row["body"],
        domain=row["domain"], location=location, mission_id=row["mission_id"], status=row["status"],
        decided_by=row["decided_by"], route_path=row["route_path"], cost=Amount.of(row["cost_millicredits"]),
        created_at=row["created_at"], decided_at=row["decided_at"],
    )


@api_route(bp, "POST", "/v1/submissions", summary="Submit a problem, solution or debate for screening",
           auth="agent", tag="submissions", body=SubmitContent, response=SubmissionOut, status=201,
           errors=(403, 409, 422))
def submit(ctx: RequestContext) -> Reply:
    body: SubmitContent = ctx.body
    key = ctx.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed("Idempotency-Key must be 1-255 visible ASCII characters",
                               details=[{"field": "header.Idempotency-Key", "message": "invalid"}])
    outcome = submission_service.submit_content(bootstrap.unit_of_work(),
        ctx.caller,
        submission_service.SubmissionDraft(
            kind=body.kind, title=body.title, body=body.body, domain=body.domain,
            latitude=body.location.latitude if body.location else None,
            longitude=body.location.longitude if body.location else None,
            mission_id=body.mission_id,
        ),
        idempotency_key=key,
        correlation_id=ctx.correlation_id,
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Reply(submission_out(outcome.submission), status=201, headers=headers)


@api_route(bp, "GET", "/v1/submissions/{id}", summary="A submission's status and decision trail",
           auth="any", tag="submissions", path_params=IdPath, response=SubmissionDetail, errors=(404,))
def get_one(ctx: RequestContext) -> SubmissionDetail:
    row = submission_service.get_submission(bootstrap.unit_of_work(), ctx.caller, ctx.path.id)
    return SubmissionDetail(**submission_out(row).model_dump(),
                            trail=[TrailEntry(**t) for t in row["trail"]])


@api_route(bp, "GET", "/v1/submissions", summary="Your submissions, newest first", auth="agent",
           tag="submissions", query=SubmissionListQuery, response=SubmissionOut, is_list=True)
def list_mine(ctx: RequestContext) -> Reply:
    q: SubmissionListQuery = ctx.query
    before = decode_cursor(q.cursor) if q.cursor else None
    rows = submission_service.list_submissions(bootstrap.unit_of_work(), ctx.caller, limit=q.limit + 1,
                                               before=before, status=q.status)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return Reply([submission_out(r) for r in page], meta={"next_cursor": next_cursor, "limit": q.limit})
