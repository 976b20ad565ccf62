"""Operators and the production shift: spot checks and their verdicts, shadow agreement, decision gates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import bootstrap
from chalicelib.domain.pagination import encode_cursor
from chalicelib.entrypoints.api.evaluations import uuid_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import Description, IdPath, PageQuery, ParamsModel, RequestModel
from chalicelib.services import spot_checks, validator_reports

bp = Blueprint(__name__)

Verdict = Literal["approved", "rejected", "flagged"]


class SpotCheckOut(BaseModel):
    id: UUID
    submission_id: UUID
    status: Literal["pending", "submitting", "batched", "completed", "failed"]
    peer_outcome: Literal["approved", "rejected"]
    layer_b_decision: Verdict | None
    agrees: bool | None
    disagreement: Literal["false_negative", "false_positive", "missed_flag"] | None
    error: str | None
    batch_id: str | None
    review_item_id: UUID | None
    verdict: Literal["peer_correct", "layer_b_correct"] | None
    verdict_notes: str | None
    verdict_by: str | None
    verdict_at: datetime | None
    created_at: datetime
    completed_at: datetime | None


class SpotCheckVerdictOut(SpotCheckOut):
    tier_changes: list[dict[str, Any]]


class SpotCheckQuery(PageQuery):
    status: Literal["pending", "submitting", "batched", "completed", "failed"] | None = None
    disagreements: bool = False


class StatsQuery(ParamsModel):
    days: Annotated[int, Field(ge=1, le=365)] = 7


class SpotCheckStats(BaseModel):
    days: int
    total: int
    open: int
    completed: int
    failed: int
    agreements: int
    agreement_rate: float | None
    disagreements: dict[str, int]
    false_negative_rate: float | None
    verdicts: dict[str, int]
    awaiting_verdict: int


class VerdictBody(RequestModel):
    verdict: Literal["peer_correct", "layer_b_correct"]
    notes: Description | None = None


class ShadowCell(BaseModel):
    consensus: str
    layer_b: str
    count: int
    agree: int


class ShadowReport(BaseModel):
    days: int
    comparisons: int
    agreements: int
    agreement: float | None
    matrix: list[ShadowCell]


class GateOut(BaseModel):
    name: str
    state: Literal["met", "not_met", "unknown"]
    value: float | None
    threshold: str
    detail: str


class GoNoGoOut(BaseModel):
    verdict: Literal["go", "no_go", "undecided"]
    go: list[GateOut]
    no_go: list[GateOut]


class DecisionGates(BaseModel):
    computed_at: datetime
    window_days: int
    all_met: bool
    gates: list[GateOut]
    go_no_go: GoNoGoOut
    figures: dict[str, Any]


def _spot(row: dict[str, Any]) -> SpotCheckOut:
    return SpotCheckOut.model_validate({k: row.get(k) for k in SpotCheckOut.model_fields})


@api_route(bp, "GET", "/v1/admin/spot-checks", summary="Spot checks, newest first", auth="admin",
           tag="spot-checks", query=SpotCheckQuery, response=SpotCheckOut, is_list=True)
def list_spot_checks(ctx: RequestContext) -> Reply:
    q: SpotCheckQuery = ctx.query
    before = uuid_cursor(q.cursor)
    rows = spot_checks.list_spot_checks(bootstrap.unit_of_work(), limit=q.limit + 1, before=before, status=q.status,
                                        disagreement_only=q.disagreements)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return Reply([_spot(r) for r in page], meta={"next_cursor": next_cursor, "limit": q.limit})


@api_route(bp, "GET", "/v1/admin/spot-checks/stats",
           summary="Spot-check agreement, disagreements by type, verdicts, false-negative rate", auth="admin",
           tag="spot-checks", query=StatsQuery, response=SpotCheckStats)
def spot_check_stats(ctx: RequestContext) -> SpotCheckStats:
    return SpotCheckStats(**spot_checks.spot_check_stats(bootstrap.unit_of_work(), days=ctx.query.days))


@api_route(bp, "POST", "/v1/admin/spot-checks/{id}/verdict",
           summary="Settle a spot check: peer_correct or layer_b_correct (given once)", auth="admin",
           tag="spot-checks", path_params=IdPath, body=VerdictBody, response=SpotCheckVerdictOut,
           errors=(404, 409))
def verdict(ctx: RequestContext) -> SpotCheckVerdictOut:
    body: VerdictBody = ctx.body
    row = spot_checks.record_verdict(bootstrap.unit_of_work(), ctx.path.id, body.verdict, notes=body.notes,
                                     actor=ctx.caller.actor)
    return SpotCheckVerdictOut(**_spot(row).model_dump(), tier_changes=row["tier_changes"])


@api_route(bp, "GET", "/v1/admin/shadow", summary="Shadow-mode agreement of peer consensus with Layer B",
           auth="admin", tag="production-shift", query=StatsQuery, response=ShadowReport)
def shadow(ctx: RequestContext) -> ShadowReport:
    return ShadowReport(**validator_reports.shadow_report(bootstrap.unit_of_work(), days=ctx.query.days))


@api_route(bp, "GET", "/v1/admin/decision-gates",
           summary="Production-shift decision gates and the shadow-mode go/no-go, computed from data",
           auth="admin", tag="production-shift", response=DecisionGates)
def decision_gates(ctx: RequestContext) -> DecisionGates:
    return DecisionGates(**validator_reports.decision_gates(bootstrap.unit_of_work()))
