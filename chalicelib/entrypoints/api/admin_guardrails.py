"""Admin: Layer B decision thresholds per domain (audited overrides) and the Layer B budget."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from chalice.app import Blueprint
from pydantic import BaseModel, Field, model_validator

from chalicelib import bootstrap
from chalicelib.domain.layer_b import DEFAULT_THRESHOLDS, THRESHOLD_NAMES, Domain
from chalicelib.domain.pagination import decode_cursor, encode_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import PageQuery, ParamsModel, Reason, RequestModel
from chalicelib.services import layer_b_service

bp = Blueprint(__name__)
TAG = "admin: guardrails"

Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class ThresholdValues(BaseModel):
    approve: float
    flag: float
    harm_warn: float
    harm_block: float


class DomainThresholds(ThresholdValues):
    domain: str
    overridden: bool
    updated_by: str | None
    updated_at: datetime | None


class ThresholdsOverview(BaseModel):
    defaults: ThresholdValues
    domains: list[DomainThresholds]


class SetThresholds(RequestModel):
    """Omitted values take the defaults (approve 0.70, flag 0.40, harm_warn 0.60, harm_block 0.80)."""

    approve: Share | None = None
    flag: Share | None = None
    harm_warn: Share | None = None
    harm_block: Share | None = None
    reason: Reason

    @model_validator(mode="after")
    def _some_value(self) -> SetThresholds:
        if all(getattr(self, name) is None for name in THRESHOLD_NAMES):
            raise ValueError("give at least one of approve, flag, harm_warn, harm_block")
        return self

    def values(self) -> dict[str, float]:
        given = {name: getattr(self, name) for name in THRESHOLD_NAMES}
        return {name: getattr(DEFAULT_THRESHOLDS, name) if v is None else v for name, v in given.items()}


class RemoveThresholds(RequestModel):
    reason: Reason


class DomainPath(ParamsModel):
    domain: Domain


class ThresholdChangeQuery(PageQuery):
    domain: Domain | None = None


class ThresholdChange(BaseModel):
    id: int
    domain: str
    old_value: dict[str, float] | None
    new_value: dict[str, float] | None
    reason: str
    actor: str
    created_at: datetime


class BudgetQuery(ParamsModel):
    days: Annotated[int, Field(ge=1, le=90)] = 7


class BudgetDay(BaseModel):
    day: str
    spent_usd_micros: int
    calls: int
    alerted_80_at: datetime | None
    exhausted_at: datetime | None


class BudgetToday(BaseModel):
    day: str
    budget_cents: int
    budget_usd_micros: int
    spent_usd_micros: int
    spent_share: float | None
    calls: int
    exhausted: bool


class LayerBUsage(BaseModel):
    today: BudgetToday
    days: list[BudgetDay]
    outcomes: dict[str, int]


@api_route(bp, "GET", "/v1/admin/guardrails/thresholds",
           summary="Layer B thresholds: the defaults and each domain's thresholds in force",
           auth="admin", tag=TAG, response=ThresholdsOverview)
def list_thresholds(ctx: RequestContext) -> ThresholdsOverview:
    return ThresholdsOverview.model_validate(layer_b_service.list_thresholds(bootstrap.unit_of_work()))


@api_route(bp, "PUT", "/v1/admin/guardrails/thresholds/{domain}",
           summary="Override a domain's Layer B thresholds (0 <= flag < approve <= 1, harm_warn < harm_block)",
           auth="admin", tag=TAG, body=SetThresholds, path_params=DomainPath, response=DomainThresholds)
def set_thresholds(ctx: RequestContext) -> DomainThresholds:
    body: SetThresholds = ctx.body
    row = layer_b_service.set_threshold_override(bootstrap.unit_of_work(), ctx.path.domain, body.values(),
                                                 actor=ctx.caller.actor,
                                                 reason=body.reason)
    return DomainThresholds.model_validate(row)


@api_route(bp, "DELETE", "/v1/admin/guardrails/thresholds/{domain}",
           summary="Remove a domain's override: the defaults apply again", auth="admin", tag=TAG,
           body=RemoveThresholds, path_params=DomainPath, response=DomainThresholds, errors=(404,))
def remove_thresholds(ctx: RequestContext) -> DomainThresholds:
    body: RemoveThresholds = ctx.body
    row = layer_b_service.remove_threshold_override(bootstrap.unit_of_work(), ctx.path.domain,
                                                    actor=ctx.caller.actor, reason=body.reason)
    return DomainThresholds.model_validate(row)


@api_route(bp, "GET", "/v1/admin/guardrails/threshold-changes",
           summary="Audit of threshold overrides (who, when, old, new, reason), newest first",
           auth="admin", tag=TAG, query=ThresholdChangeQuery, response=ThresholdChange, is_list=True)
def threshold_changes(ctx: RequestContext) -> Reply:
    q: ThresholdChangeQuery = ctx.query
    before = decode_cursor(q.cursor, id_kind="int") if q.cursor else None
    rows = layer_b_service.threshold_changes(bootstrap.unit_of_work(), domain=q.domain, limit=q.limit + 1,
                                             before=before)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return Reply([ThresholdChange.model_validate(r) for r in page],
                 meta={"next_cursor": next_cursor, "limit": q.limit})


@api_route(bp, "GET", "/v1/admin/guardrails/budget",
           summary="Layer B spend today against the daily budget, per day, and cache/budget outcomes",
           auth="admin", tag=TAG, query=BudgetQuery, response=LayerBUsage)
def budget(ctx: RequestContext) -> LayerBUsage:
    summary: dict[str, Any] = layer_b_service.usage_summary(bootstrap.unit_of_work(), ctx.query.days)
    return LayerBUsage.model_validate(summary)
