"""Operators: export jobs, for exports too large to answer inline (API Gateway and Lambda cap a
response at 29 s and 6-10 MB). Start one, follow its progress, download its file through a link that
expires. A job is the business of the admin key that started it: anyone else gets 404."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from chalice.app import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.domain import export_jobs as job_rules
from chalicelib.domain import exports as export_rules
from chalicelib.domain.errors import NotFound
from chalicelib.entrypoints.api import streams
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath, RequestModel
from chalicelib.services import export_jobs as job_service
from chalicelib.services import exports as export_service

bp = Blueprint(__name__)
TAG = "admin: trends and exports"


class NewExportJob(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    kind: export_rules.ExportKind
    start: date = Field(alias="from", description="first UTC day, included (YYYY-MM-DD)")
    end: date = Field(alias="to", description="last UTC day, included; at most 366 days after 'from'")
    format: export_rules.ExportFormat = "csv"


class ExportJobOut(BaseModel):
    """An export job: its status, and progress 0-100 (rows written over the rows estimated).

    expires_at is set once the file is ready: download it before then."""

    model_config = ConfigDict(serialize_by_alias=True)

    id: UUID
    kind: export_rules.ExportKind
    format: export_rules.ExportFormat
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    status: job_rules.JobStatus
    progress: int
    rows: int
    bytes: int
    parts: int
    estimated_rows: int
    estimated_bytes: int
    attempts: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None


class ExportJobDownloadOut(BaseModel):
    """A link that opens the job's file until expires_at (a few minutes): fetch it at once.

    In AWS it is a presigned S3 GET (no API key); in local mode the API's own file route (with it)."""

    url: str
    expires_at: datetime
    filename: str
    content_type: str
    rows: int
    bytes: int


def job_out(row: dict[str, Any]) -> ExportJobOut:
    status = row["status"]
    return ExportJobOut(
        id=row["id"], kind=row["kind"], format=row["format"], start=date.fromisoformat(row["filter"]["from"]),
        end=date.fromisoformat(row["filter"]["to"]), status=status,
        progress=job_rules.progress(int(row["rows"]), estimated_rows=int(row["estimated_rows"]), status=status),
        rows=int(row["rows"]), bytes=int(row["bytes"]), parts=len(row["parts"]),
        estimated_rows=int(row["estimated_rows"]), estimated_bytes=int(row["estimated_bytes"]),
        attempts=int(row["attempts"]), error=row["error"], created_at=row["created_at"],
        started_at=row["started_at"], finished_at=row["finished_at"],
        expires_at=row["expires_at"] if status == "succeeded" else None,
    )


def accepted(row: dict[str, Any]) -> Reply:
    """202 with the job, and where to follow it."""
    return Reply(job_out(row), status=202, headers={"Location": f"/v1/admin/exports/jobs/{row['id']}"})


@api_route(bp, "POST", "/v1/admin/exports/jobs",
           summary="Start an export job (written to the export store in the background, any size)",
           auth="admin", tag=TAG, body=NewExportJob, response=ExportJobOut, status=202, errors=(400, 429))
def start_job(ctx: RequestContext) -> Reply:
    body: NewExportJob = ctx.body
    request = export_service.check(
        export_service.ExportRequest(kind=body.kind, fmt=body.format, start=body.start, end=body.end),
        today=bootstrap.clock().now().date())
    return accepted(job_service.start_job(bootstrap.unit_of_work(), ctx.caller, request))


@api_route(bp, "GET", "/v1/admin/exports/jobs/{id}", summary="An export job's status and progress",
           auth="admin", tag=TAG, path_params=IdPath, response=ExportJobOut, errors=(404,))
def get_job(ctx: RequestContext) -> ExportJobOut:
    return job_out(job_service.get_job(bootstrap.unit_of_work(), ctx.caller, ctx.path.id))


@api_route(bp, "GET", "/v1/admin/exports/jobs/{id}/download",
           summary="A short-lived link to a finished export job's file", auth="admin", tag=TAG,
           path_params=IdPath, response=ExportJobDownloadOut, errors=(404, 409, 410))
def download(ctx: RequestContext) -> Reply:
    row, link = job_service.download_link(bootstrap.unit_of_work(), bootstrap.export_store(), ctx.caller,
                                          ctx.path.id)
    request = job_service.request_of(row)
    # The link opens the file until it expires: no cache (a browser's, a proxy's) keeps it.
    return Reply(ExportJobDownloadOut(url=link.url, expires_at=link.expires_at, filename=request.filename,
                                      content_type=request.media_type, rows=int(row["rows"]),
                                      bytes=int(row["bytes"])),
                 headers={"Cache-Control": "private, no-store"})


@api_route(bp, "GET", "/v1/admin/exports/jobs/{id}/file",
           summary="Local mode: a finished export job's file (in AWS the download link is presigned S3)",
           auth="admin", tag=TAG, path_params=IdPath, media_type="text/csv, application/json",
           errors=(404, 409, 410))
def serve_file(ctx: RequestContext) -> Response:
    if bootstrap.export_store_kind() != "local":
        raise NotFound("not found")
    row, chunks = job_service.read_file(bootstrap.unit_of_work(), bootstrap.export_store(), ctx.caller,
                                        ctx.path.id)
    request = job_service.request_of(row)
    headers: dict[str, str | list[str]] = {
        "Content-Type": request.media_type, "Content-Disposition": f'attachment; filename="{request.filename}"',
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if streams.can_stream():
        streams.hand_off(chunks)
        return Response(body="", status_code=200, headers=headers)
    return Response(body=b"".join(chunks).decode("utf-8"), status_code=200, headers=headers)
