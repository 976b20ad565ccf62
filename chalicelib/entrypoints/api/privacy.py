"""Data-subject requests (export, erasure), their audit log, and the retention view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from chalice.app import Blueprint, Response
from pydantic import BaseModel

from chalicelib import bootstrap
from chalicelib.domain.pagination import decode_cursor, encode_cursor
from chalicelib.entrypoints.api.evidence import TokenQuery
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath, PageQuery, Reason, RequestModel
from chalicelib.services import privacy_requests as service
from chalicelib.services import retention as retention_service

bp = Blueprint(__name__)
TAG = "privacy"
ADMIN_TAG = "admin: privacy"


class NewPrivacyRequest(RequestModel):
    type: Literal["export", "erase"]
    subject_id: UUID | None = None
    reason: Reason | None = None


class Approval(RequestModel):
    reason: Reason


class ExportOut(BaseModel):
    bytes: int | None
    expires_at: datetime | None
    expired: bool


class PrivacyRequestOut(BaseModel):
    id: UUID
    type: Literal["export", "erase"]
    subject_id: UUID
    subject_kind: str
    status: Literal["pending", "processing", "completed", "failed"]
    progress: int
    step: str | None
    awaiting_approval: bool
    on_behalf: bool
    requested_by: str
    reason: str | None
    approved_by: str | None
    approved_at: datetime | None
    approval_reason: str | None
    attempts: int
    error: str | None
    result: dict[str, Any] | None
    export: ExportOut | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ExportDownloadOut(BaseModel):
    url: str
    expires_at: datetime
    content_type: str


class RequestListQuery(PageQuery):
    type: Literal["export", "erase"] | None = None
    status: Literal["pending", "processing", "completed", "failed"] | None = None
    subject_id: UUID | None = None
    awaiting_approval: bool | None = None


class AuditQuery(PageQuery):
    request_id: UUID | None = None
    subject_id: UUID | None = None
    action: Literal["request", "approve", "start", "export", "download", "erase", "anonymise", "delete", "fail",
                    "expire", "retention"] | None = None


class AuditEntryOut(BaseModel):
    id: int
    request_id: UUID | None
    subject_id: UUID | None
    action: str
    actor: str
    details: dict[str, Any]
    created_at: datetime


class RetentionKindOut(BaseModel):
    kind: str
    flag: str
    period: int
    unit: Literal["days", "hours"]
    action: Literal["delete", "anonymise"]
    cutoff: datetime
    due: int
    next_run_limit: int
    description: str


class RetentionRunOut(BaseModel):
    started_at: datetime
    finished_at: datetime | None
    ok: bool | None
    error: str | None
    result: Any
    duration_ms: int | None


class RetentionOut(BaseModel):
    generated_at: datetime
    kinds: list[RetentionKindOut]
    last_run: RetentionRunOut | None


def request_out(row: dict[str, Any]) -> PrivacyRequestOut:
    export = None
    if row["type"] == "export" and row["export_key"] is not None:
        expired = row["export_deleted_at"] is not None or row["export_expires_at"] <= datetime.now(UTC)
        export = ExportOut(bytes=row["export_bytes"], expires_at=row["export_expires_at"], expired=expired)
    return PrivacyRequestOut(
        id=row["id"], type=row["type"], subject_id=row["subject_id"], subject_kind=row["subject_kind"],
        status=row["status"], progress=row["progress"], step=row["step"],
        awaiting_approval=bool(row["approval_required"] and row["approved_at"] is None and row["status"] == "pending"),
        on_behalf=row["on_behalf"], requested_by=row["requested_by"], reason=row["reason"],
        approved_by=row["approved_by"], approved_at=row["approved_at"], approval_reason=row["approval_reason"],
        attempts=row["attempts"], error=row["error"], result=row["result"], export=export,
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
    )


@api_route(bp, "POST", "/v1/privacy/requests", summary="Ask for an export or the erasure of personal data (the "
           "subject, or an admin on someone's behalf with subject_id and reason)", auth="any", tag=TAG,
           body=NewPrivacyRequest, response=PrivacyRequestOut, status=201, errors=(404, 409, 429))
def file_request(ctx: RequestContext) -> Reply:
    body: NewPrivacyRequest = ctx.body
    row = service.file_request(bootstrap.unit_of_work(), ctx.caller, type_=body.type, subject_id=body.subject_id,
                               reason=body.reason)
    return Reply(request_out(row), status=201)


@api_route(bp, "GET", "/v1/privacy/requests/{id}", summary="A privacy request's status and progress (0-100)",
           auth="any", tag=TAG, path_params=IdPath, response=PrivacyRequestOut, errors=(404,))
def get_request(ctx: RequestContext) -> PrivacyRequestOut:
    return request_out(service.get_request(bootstrap.unit_of_work(), ctx.caller, ctx.path.id))


@api_route(bp, "GET", "/v1/privacy/requests/{id}/download", summary="A short-lived link to a completed export "
           "(the subject only)", auth="any", tag=TAG, path_params=IdPath, response=ExportDownloadOut,
           errors=(403, 404, 409, 410))
def download_link(ctx: RequestContext) -> Reply:
    link = service.download_link(bootstrap.unit_of_work(), bootstrap.subject_export_store(), ctx.caller, ctx.path.id)
    # The link opens the archive until it expires: no cache (a browser's, a proxy's) keeps it.
    return Reply(ExportDownloadOut(url=link.url, expires_at=link.expires_at, content_type="application/zip"),
                 headers={"Cache-Control": "private, no-store"})


@api_route(bp, "GET", "/v1/privacy/exports/{id}", summary="Local mode: the export archive behind a download link",
           auth="public", tag=TAG, path_params=IdPath, query=TokenQuery, errors=(403, 404, 410),
           public_rate_limit=30)
def serve_export(ctx: RequestContext) -> Response:
    data = service.serve_export(
        bootstrap.unit_of_work(), bootstrap.subject_export_store(), ctx.path.id, ctx.query.token
    )
    return Response(body=data, status_code=200, headers={
        "Content-Type": "application/zip", "Content-Disposition": f'attachment; filename="export-{ctx.path.id}.zip"',
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
    })


@api_route(bp, "GET", "/v1/admin/privacy/requests", summary="Privacy requests, oldest first, with filters",
           auth="admin", tag=ADMIN_TAG, query=RequestListQuery, response=PrivacyRequestOut, is_list=True)
def list_requests(ctx: RequestContext) -> Reply:
    q: RequestListQuery = ctx.query
    position = decode_cursor(q.cursor) if q.cursor else None
    after = (position[0], UUID(position[1])) if position else None
    rows = service.list_requests(bootstrap.unit_of_work(), type_=q.type, status=q.status, subject_id=q.subject_id,
                                 awaiting_approval=q.awaiting_approval, after=after, limit=q.limit + 1)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return Reply([request_out(r) for r in page], meta={"next_cursor": next_cursor, "limit": q.limit})


@api_route(bp, "POST", "/v1/admin/privacy/requests/{id}/approve", summary="Approve an erasure (with a reason); "
           "it then runs", auth="admin", tag=ADMIN_TAG, path_params=IdPath, body=Approval,
           response=PrivacyRequestOut, errors=(403, 404, 409))
def approve(ctx: RequestContext) -> PrivacyRequestOut:
    return request_out(service.approve(bootstrap.unit_of_work(), ctx.caller, ctx.path.id, reason=ctx.body.reason))


@api_route(bp, "GET", "/v1/admin/privacy/audit", summary="The privacy audit log, oldest first, with filters",
           auth="admin", tag=ADMIN_TAG, query=AuditQuery, response=AuditEntryOut, is_list=True)
def audit_log(ctx: RequestContext) -> Reply:
    q: AuditQuery = ctx.query
    position = decode_cursor(q.cursor, id_kind="int") if q.cursor else None
    after = (position[0], int(position[1])) if position else None
    rows = service.audit_log(bootstrap.unit_of_work(), request_id=q.request_id, subject_id=q.subject_id,
                             action=q.action, after=after, limit=q.limit + 1)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return Reply([AuditEntryOut.model_validate(r) for r in page], meta={"next_cursor": next_cursor, "limit": q.limit})


@api_route(bp, "GET", "/v1/admin/privacy/retention", summary="Retention: what the next run would touch (dry run) "
           "and what the last run did", auth="admin", tag=ADMIN_TAG, response=RetentionOut)
def retention(ctx: RequestContext) -> RetentionOut:
    return RetentionOut.model_validate(retention_service.preview(bootstrap.unit_of_work()))
