"""Admin: partner delivery schedules, their runs, preview, run-now and stats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import bootstrap
from chalicelib.domain.layer_b import Domain
from chalicelib.domain.pagination import decode_cursor, encode_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath, Name, PageQuery, ParamsModel, RequestModel, SafeText
from chalicelib.services import partner_deliveries as service

bp = Blueprint(__name__)
TAG = "admin: deliveries"
BASE = "/v1/admin/deliveries/schedules"


class RegionFilterBody(RequestModel):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    radius_km: Annotated[float, Field(gt=0, le=2000)]


class FilterBody(RequestModel):
    """Empty lists mean "any"."""

    domains: list[Domain] = Field(default_factory=list, max_length=15)
    kinds: list[Literal["problem", "solution", "debate"]] = Field(default_factory=list, max_length=3)
    regions: list[RegionFilterBody] = Field(default_factory=list, max_length=20)


class ScheduleBody(RequestModel):
    partner: Name
    target: Annotated[SafeText, Field(min_length=1, max_length=2048,
                                      description="https://... webhook URL or s3://bucket/prefix")]
    filter: FilterBody = Field(default_factory=FilterBody)
    format: Literal["jsonl", "csv"] = "jsonl"
    cron: Annotated[SafeText, Field(min_length=9, max_length=100, description="five-field cron, UTC")]
    active: bool = True
    secret: Annotated[str, Field(min_length=16, max_length=256, pattern=r"^[\x21-\x7e]+$")] | None = Field(
        default=None, description="HMAC-SHA256 key; generated (and shown once) when omitted on create")

    def draft(self) -> service.ScheduleDraft:
        return service.ScheduleDraft(partner=self.partner, target=self.target, filter=self.filter.model_dump(),
                                     format=self.format, cron=self.cron, active=self.active, secret=self.secret)


class RegionFilterOut(BaseModel):
    latitude: float
    longitude: float
    radius_km: float


class FilterOut(BaseModel):
    domains: list[str]
    kinds: list[str]
    regions: list[RegionFilterOut]


class ScheduleOut(BaseModel):
    id: UUID
    partner: str
    target: str
    target_kind: Literal["webhook", "s3"]
    filter: FilterOut
    format: Literal["jsonl", "csv"]
    cron: str
    active: bool
    watermark_at: datetime
    next_run_at: datetime
    next_runs: list[datetime]
    created_by: str
    created_at: datetime
    updated_at: datetime


class ScheduleCreated(BaseModel):
    schedule: ScheduleOut
    secret: str
    note: str = "Store this secret now: receivers verify X-Peerguard-Signature with it."


class RunOut(BaseModel):
    id: UUID
    schedule_id: UUID
    trigger: Literal["schedule", "manual"]
    status: Literal["queued", "running", "retrying", "succeeded", "failed"]
    window_from: datetime
    window_to: datetime
    attempts: int
    items: int | None
    bytes: int | None
    response_code: int | None
    error: str | None
    duration_ms: int | None
    location: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class PreviewOut(BaseModel):
    schedule_id: UUID
    window_from: datetime
    window_to: datetime
    items: int
    bytes: int
    content_type: str
    sample: str
    truncated: bool


class ScheduleStats(BaseModel):
    id: UUID
    partner: str
    active: bool
    finished: int
    succeeded: int
    failed: int
    success_rate: float | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    items_delivered: int


class DeliveryStats(BaseModel):
    window_days: int
    runs_finished: int
    runs_succeeded: int
    success_rate: float | None
    schedules: list[ScheduleStats]


class StatsQuery(ParamsModel):
    days: Annotated[int, Field(ge=1, le=365)] = 30


def schedule_out(row: dict[str, Any]) -> ScheduleOut:
    raw = row["filter"] or {}
    return ScheduleOut(
        id=row["id"], partner=row["partner"], target=row["target"], target_kind=row["target_kind"],
        filter=FilterOut(domains=raw.get("domains", []), kinds=raw.get("kinds", []),
                         regions=[RegionFilterOut(**r) for r in raw.get("regions", [])]),
        format=row["format"], cron=row["cron"], active=row["active"], watermark_at=row["watermark_at"],
        next_run_at=row["next_run_at"], next_runs=row["next_runs"], created_by=row["created_by"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


def run_out(row: dict[str, Any]) -> RunOut:
    return RunOut.model_validate({k: row[k] for k in RunOut.model_fields})


@api_route(bp, "POST", BASE, summary="Create a delivery schedule (cron checked, next three runs returned)",
           auth="admin", tag=TAG, body=ScheduleBody, response=ScheduleCreated, status=201)
def create_schedule(ctx: RequestContext) -> Reply:
    body: ScheduleBody = ctx.body
    row = service.create_schedule(bootstrap.unit_of_work(), bootstrap.delivery_targets(), ctx.caller,
                                  body.draft())
    return Reply(ScheduleCreated(schedule=schedule_out(row), secret=row["secret"]), status=201)


@api_route(bp, "GET", BASE, summary="Delivery schedules, newest first", auth="admin", tag=TAG, query=PageQuery,
           response=ScheduleOut, is_list=True)
def list_schedules(ctx: RequestContext) -> Reply:
    q: PageQuery = ctx.query
    before = decode_cursor(q.cursor) if q.cursor else None
    rows = service.list_schedules(bootstrap.unit_of_work(), limit=q.limit + 1, before=before)
    page, more = rows[: q.limit], len(rows) > q.limit
    cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return Reply([schedule_out(r) for r in page], meta={"next_cursor": cursor, "limit": q.limit})


@api_route(bp, "GET", BASE + "/{id}", summary="One delivery schedule with its next three runs", auth="admin",
           tag=TAG, path_params=IdPath, response=ScheduleOut, errors=(404,))
def get_schedule(ctx: RequestContext) -> ScheduleOut:
    return schedule_out(service.get_schedule(bootstrap.unit_of_work(), ctx.path.id))


@api_route(bp, "PUT", BASE + "/{id}", summary="Replace a schedule's fields (the secret is kept when omitted)",
           auth="admin", tag=TAG, path_params=IdPath, body=ScheduleBody, response=ScheduleOut, errors=(404,))
def update_schedule(ctx: RequestContext) -> ScheduleOut:
    body: ScheduleBody = ctx.body
    return schedule_out(service.update_schedule(bootstrap.unit_of_work(), bootstrap.delivery_targets(),
                                                ctx.path.id, body.draft()))


@api_route(bp, "DELETE", BASE + "/{id}", summary="Delete a schedule (its run history stays)", auth="admin",
           tag=TAG, path_params=IdPath, errors=(404,))
def delete_schedule(ctx: RequestContext) -> Reply:
    service.delete_schedule(bootstrap.unit_of_work(), ctx.path.id)
    return Reply(None)


@api_route(bp, "GET", BASE + "/{id}/preview", summary="The payload the next run would send (nothing is sent)",
           auth="admin", tag=TAG, path_params=IdPath, response=PreviewOut, errors=(404,))
def preview(ctx: RequestContext) -> PreviewOut:
    return PreviewOut.model_validate(service.preview(bootstrap.unit_of_work(), ctx.path.id))


@api_route(bp, "POST", BASE + "/{id}/run-now", summary="Queue a run now (409 while one is in flight)",
           auth="admin", tag=TAG, path_params=IdPath, response=RunOut, status=202, errors=(404, 409))
def run_now(ctx: RequestContext) -> Reply:
    return Reply(run_out(service.run_now(bootstrap.unit_of_work(), ctx.path.id)), status=202)


@api_route(bp, "GET", BASE + "/{id}/runs", summary="A schedule's runs, newest first", auth="admin", tag=TAG,
           path_params=IdPath, query=PageQuery, response=RunOut, is_list=True, errors=(404,))
def list_runs(ctx: RequestContext) -> Reply:
    q: PageQuery = ctx.query
    before = decode_cursor(q.cursor) if q.cursor else None
    rows = service.runs(bootstrap.unit_of_work(), ctx.path.id, limit=q.limit + 1, before=before)
    page, more = rows[: q.limit], len(rows) > q.limit
    cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return Reply([run_out(r) for r in page], meta={"next_cursor": cursor, "limit": q.limit})


@api_route(bp, "GET", "/v1/admin/deliveries/stats", summary="Success rate and last success per schedule",
           auth="admin", tag=TAG, query=StatsQuery, response=DeliveryStats)
def stats(ctx: RequestContext) -> DeliveryStats:
    q: StatsQuery = ctx.query
    return DeliveryStats.model_validate(service.stats(bootstrap.unit_of_work(), days=q.days))
