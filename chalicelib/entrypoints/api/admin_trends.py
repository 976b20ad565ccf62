"""Operators: daily trends (read, re-aggregate a day) and exports of decisions, trends, compliance
events and the ledger as CSV or JSON."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from datetime import date, datetime

from chalice.app import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain import export_jobs as job_rules
from chalicelib.domain import exports as export_rules
from chalicelib.domain import trends as trend_rules
from chalicelib.domain.errors import RateLimited
from chalicelib.entrypoints.api import streams
from chalicelib.entrypoints.api.admin_export_jobs import ExportJobOut, accepted
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import ParamsModel
from chalicelib.services import export_jobs
from chalicelib.services import exports as export_service
from chalicelib.services import trends as trend_service

bp = Blueprint(__name__)
TAG = "admin: trends and exports"


class RangeQuery(ParamsModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    start: date = Field(alias="from", description="first UTC day, included (YYYY-MM-DD)")
    end: date = Field(alias="to", description="last UTC day, included; at most 366 days after 'from'")


class TrendsQuery(RangeQuery):
    metric: trend_rules.Metric | None = Field(default=None, description="one metric; all when omitted")


class TrendPointOut(BaseModel):
    day: date
    value: float


class TrendSeriesOut(BaseModel):
    metric: str
    series: str
    points: list[TrendPointOut]


class TrendsOut(BaseModel):
    """Stored daily figures. A day missing from days_done was not aggregated (yet); a series has no
    point for a day that had nothing to measure (e.g. no spot check completed)."""

    model_config = ConfigDict(serialize_by_alias=True)

    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    metrics: list[str]
    days_done: list[date]
    series: list[TrendSeriesOut]


@api_route(bp, "GET", "/v1/admin/trends", summary="Daily trend figures for a range of days (at most 366)",
           auth="admin", tag=TAG, query=TrendsQuery, response=TrendsOut, errors=(400,))
def get_trends(ctx: RequestContext) -> TrendsOut:
    q: TrendsQuery = ctx.query
    report = trend_service.read_trends(bootstrap.unit_of_work(), start=q.start, end=q.end, metric=q.metric)
    return TrendsOut(
        start=report.start, end=report.end, metrics=list(report.metrics), days_done=report.days_done,
        series=[TrendSeriesOut(metric=s.metric, series=s.series,
                               points=[TrendPointOut(day=d, value=v) for d, v in s.points]) for s in report.series],
    )


class AggregateQuery(ParamsModel):
    day: date = Field(description="a UTC day that is over")


class AggregateOut(BaseModel):
    day: date
    figures: int


@api_route(bp, "POST", "/v1/admin/trends/aggregate",
           summary="Aggregate one day again now (replaces that day's figures)", auth="admin", tag=TAG,
           query=AggregateQuery, response=AggregateOut, errors=(400,))
def aggregate(ctx: RequestContext) -> AggregateOut:
    day = ctx.query.day
    return AggregateOut(day=day, figures=trend_service.aggregate_day(bootstrap.unit_of_work(), day))


# --- exports ------------------------------------------------------------------------------------

class ExportPath(ParamsModel):
    kind: export_rules.ExportKind


class ExportQuery(RangeQuery):
    format: export_rules.ExportFormat = "csv"


class ExportLinkOut(BaseModel):
    """An export too large to answer inline, written to the export store: download it from url
    before expires_at."""

    kind: export_rules.ExportKind
    format: export_rules.ExportFormat
    url: str
    expires_at: datetime
    rows: int
    bytes: int
    filename: str


_slots_lock = threading.Lock()
_slots: list[threading.BoundedSemaphore] = []


def _running() -> threading.BoundedSemaphore:
    """At most EXPORT_CONCURRENCY exports at once in this process (each holds a database connection)."""
    with _slots_lock:
        if not _slots:
            _slots.append(threading.BoundedSemaphore(get_settings().export_concurrency))
        return _slots[0]


class _Handed:
    """The chunks handed to a streaming front: its first chunk already read (the transaction is open),
    the rest on iteration; closing it (PEP 3333: the server always does) ends the transaction and frees
    the export slot, whether the body was sent, cut short, or never started."""

    def __init__(self, chunks: Generator[bytes, None, None], slot: threading.BoundedSemaphore) -> None:
        self._chunks = chunks
        self._slot: threading.BoundedSemaphore | None = slot
        self.first = next(chunks)

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        yield from self._chunks

    def close(self) -> None:
        try:
            self._chunks.close()
        finally:
            slot, self._slot = self._slot, None
            if slot is not None:
                slot.release()


def _download_headers(request: export_service.ExportRequest) -> dict[str, str | list[str]]:
    return {"Content-Type": request.media_type,
            "Content-Disposition": f'attachment; filename="{request.filename}"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@api_route(bp, "GET", "/v1/admin/exports/{kind}",
           summary="Export decisions, trends, compliance events or ledger legs for a range of days (CSV or JSON);"
           " over 5 MiB estimated: 202 with an export job",
           auth="admin", tag=TAG, path_params=ExportPath, query=ExportQuery, response=ExportLinkOut,
           media_type="text/csv, application/json", errors=(400, 429), also=((202, ExportJobOut),))
def export(ctx: RequestContext) -> Response | Reply:
    """An export estimated over EXPORT_JOB_THRESHOLD_BYTES (5 MiB) becomes a job: 202 with the job to
    follow at GET /v1/admin/exports/jobs/{id}. A smaller one is streamed chunk by chunk where the front
    streams (the local server); elsewhere the body itself up to EXPORT_INLINE_MAX_BYTES, else (the
    estimate fell short) a link to the object written to the export bucket."""
    q: ExportQuery = ctx.query
    request = export_service.check(export_service.ExportRequest(kind=ctx.path.kind, fmt=q.format,
                                                                start=q.start, end=q.end),
                                   today=bootstrap.clock().now().date())
    settings = get_settings()
    sized = export_jobs.estimate(bootstrap.unit_of_work(), request)
    if job_rules.needs_job(sized.bytes, settings.export_job_threshold_bytes):
        return accepted(export_jobs.start_job(bootstrap.unit_of_work(), ctx.caller, request, sized))
    slot = _running()
    if not slot.acquire(blocking=False):
        raise RateLimited("exports are already running; try again when one has finished", retry_after_s=30,
                          details={"concurrent_exports": settings.export_concurrency})
    if streams.can_stream():
        chunks = export_service.stream(bootstrap.unit_of_work(), request)
        try:
            handed = _Handed(chunks, slot)  # opens the transaction now: a database error is still an envelope
        except BaseException:
            chunks.close()
            slot.release()
            raise
        streams.hand_off(handed)
        return Response(body="", status_code=200, headers=_download_headers(request))
    try:
        result = export_service.inline_or_stored(
            bootstrap.unit_of_work(), bootstrap.export_store(), request,
            max_inline_bytes=settings.export_inline_max_bytes, link_ttl_s=settings.export_link_ttl_s)
    finally:
        slot.release()
    if isinstance(result, export_service.Inline):
        return Response(body=result.body.decode("utf-8"), status_code=200,
                        headers={**_download_headers(request), "X-Export-Rows": str(result.rows)})
    return Reply(data=ExportLinkOut(kind=request.kind, format=request.fmt, url=result.url,
                                    expires_at=result.expires_at, rows=result.rows, bytes=result.bytes,
                                    filename=request.filename))

