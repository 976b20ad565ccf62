"""Operators: alerts (list, acknowledge, resolve, run the rules now), the dashboard figures, worker
health, and the dashboard page itself (static HTML/JS/CSS that asks for an admin key and calls the
JSON routes)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal
from uuid import UUID

from chalice.app import Blueprint, Response
from pydantic import Field

from chalicelib import bootstrap
from chalicelib.domain.errors import NotFound
from chalicelib.domain.pagination import decode_cursor, encode_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import ApiModel, Description, IdPath, PageQuery, ParamsModel, RequestModel
from chalicelib.entrypoints.schedules import JOBS
from chalicelib.services import alerts as alert_service
from chalicelib.services import operations

bp = Blueprint(__name__)
TAG = "admin: operations"

Severity = Literal["warning", "critical"]
AlertStatus = Literal["open", "acknowledged", "resolved"]


class AlertOut(ApiModel):
    id: UUID
    rule: str
    severity: Severity
    tier: int
    title: str
    details: dict[str, Any]
    status: AlertStatus
    occurrences: int
    dedup_key: str | None
    created_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    escalated_at: datetime | None
    escalation_level: int
    resolved_at: datetime | None
    resolved_by: str | None
    runbook: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> AlertOut:
        return cls.model_validate({**row, "runbook": alert_service.runbook_of(row["rule"])})


class NotificationOut(ApiModel):
    event: Literal["raised", "escalated"]
    channel: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    rounds: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class AlertDetailOut(AlertOut):
    notifications: list[NotificationOut]


class AlertQuery(PageQuery):
    status: AlertStatus | None = None
    severity: Severity | None = None
    rule: Annotated[str, Field(max_length=100, pattern=r"^[a-z][a-z0-9_]*$")] | None = None


class AckBody(RequestModel):
    note: Description | None = None


class EngineRun(ApiModel):
    checks: int
    firing: list[str]
    unknown: list[str]
    raised: int
    resolved: int
    announced: int
    escalated: int
    notifications_sent: int
    notifications_failed: int


@api_route(bp, "GET", "/v1/admin/alerts", summary="Alerts, newest first (filter by status, severity, rule)",
           auth="admin", tag=TAG, query=AlertQuery, response=AlertOut, is_list=True)
def list_alerts(ctx: RequestContext) -> Reply:
    q: AlertQuery = ctx.query
    rows = alert_service.list_alerts(bootstrap.unit_of_work(), status=q.status, severity=q.severity, rule=q.rule,
                                     limit=q.limit + 1,
                                     before=decode_cursor(q.cursor) if q.cursor else None)
    page = rows[:q.limit]
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if len(rows) > q.limit else None
    return Reply([AlertOut.of(r) for r in page], meta={"next_cursor": next_cursor, "limit": q.limit})


@api_route(bp, "GET", "/v1/admin/alerts/{id}", summary="One alert with its notifications",
           auth="admin", tag=TAG, path_params=IdPath, response=AlertDetailOut, errors=(404,))
def get_alert(ctx: RequestContext) -> AlertDetailOut:
    row = alert_service.get_alert(bootstrap.unit_of_work(), ctx.path.id)
    return AlertDetailOut.model_validate({**row, "runbook": alert_service.runbook_of(row["rule"])})


@api_route(bp, "POST", "/v1/admin/alerts/{id}/ack", summary="Acknowledge an alert (stops its escalation)",
           auth="admin", tag=TAG, path_params=IdPath, body=AckBody, response=AlertOut, errors=(404, 409))
def acknowledge(ctx: RequestContext) -> AlertOut:
    return AlertOut.of(alert_service.acknowledge(bootstrap.unit_of_work(), ctx.path.id, actor=ctx.caller.actor,
                                                 note=ctx.body.note))


@api_route(bp, "POST", "/v1/admin/alerts/{id}/resolve", summary="Resolve an alert by hand",
           auth="admin", tag=TAG, path_params=IdPath, response=AlertOut, errors=(404,))
def resolve(ctx: RequestContext) -> AlertOut:
    return AlertOut.of(alert_service.resolve(bootstrap.unit_of_work(), ctx.path.id, actor=ctx.caller.actor))


@api_route(bp, "POST", "/v1/admin/alerts/evaluate", summary="Run the alert rules now (they also run every minute)",
           auth="admin", tag=TAG, response=EngineRun)
def evaluate(ctx: RequestContext) -> EngineRun:
    return EngineRun(**alert_service.run_engine(
        bootstrap.unit_of_work(), bootstrap.probes(), [(j.name, j.every_seconds) for j in JOBS],
        channels=bootstrap.notifiers()))


# --- the dashboard figures ------------------------------------------------------------------------


class DashboardQuery(ParamsModel):
    hours: Annotated[int, Field(ge=1, le=24 * 30)] = 24


class LatencyPoint(ApiModel):
    bucket: datetime
    decisions: int
    p50_ms: float | None
    p95_ms: float | None


class Consensus(ApiModel):
    decisions: int
    p50_ms: float | None
    p95_ms: float | None
    series: list[LatencyPoint]


class SpotPoint(ApiModel):
    bucket: datetime
    completed: int
    agreements: int


class SpotChecks(ApiModel):
    completed: int
    agreements: int
    agreement_rate: float | None
    series: list[SpotPoint]


class EconomyPoint(ApiModel):
    bucket: datetime
    ratio: float | None
    ratio_state: str
    hardship_rate: float
    faucet: int
    sink: int


class SubmissionPoint(ApiModel):
    bucket: datetime
    layer_a: int
    layer_b: int
    peer: int
    total: int


class AlertCounts(ApiModel):
    open: int
    acknowledged: int
    critical: int
    warning: int


class DashboardAlerts(ApiModel):
    counts: AlertCounts
    unresolved: list[AlertOut]


class Validators(ApiModel):
    active: int


class DashboardOut(ApiModel):
    generated_at: datetime
    window_hours: int
    routing_split: dict[str, int]
    decisions_by_path: dict[str, int]
    submissions_series: list[SubmissionPoint]
    consensus: Consensus
    spot_checks: SpotChecks
    economy: list[EconomyPoint]
    validators: Validators
    alerts: DashboardAlerts
    decision_gates: dict[str, Any] | None


@api_route(bp, "GET", "/v1/admin/dashboard",
           summary="Operators' dashboard: routing split, decisions by path, consensus latency, spot-check "
                   "agreement, economy, alerts, decision gates",
           auth="admin", tag=TAG, query=DashboardQuery, response=DashboardOut)
def dashboard(ctx: RequestContext) -> DashboardOut:
    data = operations.dashboard(bootstrap.unit_of_work(), hours=ctx.query.hours)
    data["alerts"]["unresolved"] = [AlertOut.of(r) for r in data["alerts"]["unresolved"]]
    return DashboardOut.model_validate(data)


class StageBacklog(ApiModel):
    stage: str
    waiting: int
    oldest_age_s: float | None


class DeadLetters(ApiModel):
    outbox: dict[str, int]
    sqs: dict[str, int | None]


class DatabaseHealth(ApiModel):
    pool_in_use: int
    pool_max: int
    server_connections: int
    server_max_connections: int


class JobRun(ApiModel):
    job: str
    schedule: str
    every_seconds: int
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_ok: bool | None
    last_error: str | None
    last_duration_ms: int | None
    last_ok_at: datetime | None
    consecutive_failures: int
    runs_24h: int
    failures_24h: int
    stale: bool


class LatePhotos(ApiModel):
    late: int = Field(description="photos still waiting for the privacy stage after its lease and one sweep")
    oldest_waiting_s: float | None
    evidence_ids: list[UUID] = Field(description="up to 10 of them, the oldest first")
    lease_s: int


class WorkersOut(ApiModel):
    generated_at: datetime
    outbox_oldest_unsent_age_s: float | None
    stages: list[StageBacklog]
    dead_letters: DeadLetters
    database: DatabaseHealth
    scheduler: list[JobRun]
    late_photos: LatePhotos


@api_route(bp, "GET", "/v1/admin/workers",
           summary="Worker health: backlog and oldest item per stage, dead letters, pool, scheduler runs",
           auth="admin", tag=TAG, response=WorkersOut)
def workers(ctx: RequestContext) -> WorkersOut:
    return WorkersOut.model_validate(
        operations.worker_health(bootstrap.unit_of_work(), bootstrap.probes(), [(j.name, j.expression,
                                                                                 j.every_seconds) for j in JOBS]))


# --- the dashboard page ---------------------------------------------------------------------------

ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
}
_ASSET_DIRS = {"uPlot.iife.min.js": "vendor", "uPlot.min.css": "vendor"}
# Everything the page loads comes from here; no inline script, no third party.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _static(name: str) -> str:
    folder = resources.files("chalicelib") / "static" / "admin"
    if name in _ASSET_DIRS:
        folder = folder / _ASSET_DIRS[name]
    return (folder / name).read_text(encoding="utf-8")


class AssetPath(ParamsModel):
    name: Annotated[str, Field(max_length=100)]  # an unknown name is 404, as for any missing file


@api_route(bp, "GET", "/admin", summary="The operators' dashboard page (asks for an admin key)", auth="public",
           tag=TAG, media_type="text/html", public_rate_limit=120)
def page(ctx: RequestContext) -> Response:
    return Response(body=_static("index.html"), status_code=200,
                    headers={"Content-Type": "text/html; charset=utf-8", **PAGE_HEADERS})


@api_route(bp, "GET", "/admin/assets/{name}", summary="Scripts and styles of the dashboard page", auth="public",
           tag=TAG, path_params=AssetPath, media_type="text/javascript, text/css", errors=(404,),
           public_rate_limit=600)
def asset(ctx: RequestContext) -> Response:
    name = ctx.path.name
    if name not in ASSETS:
        raise NotFound("no such asset")
    return Response(body=_static(name), status_code=200,
                    headers={"Content-Type": ASSETS[name], **PAGE_HEADERS, "Cache-Control": "max-age=300"})
