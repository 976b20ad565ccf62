"""The validator pool: a validator's own stats and home regions; backfill, listing and suspension for admins."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from chalice.app import Blueprint
from pydantic import AwareDatetime, Field

from chalicelib import bootstrap
from chalicelib.domain.pagination import encode_cursor
from chalicelib.entrypoints.api.evaluations import uuid_cursor
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import ApiModel, IdPath, PageQuery, ParamsModel, Reason, RequestModel, SafeText
from chalicelib.services import attestations as attestation_service
from chalicelib.services import validator_reports, validators

bp = Blueprint(__name__)

Tier = Literal["apprentice", "journeyman", "expert"]


class Region(RequestModel):
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    label: Annotated[SafeText, Field(max_length=100)] = ""


class RegionsBody(RequestModel):
    regions: Annotated[list[Region], Field(max_length=validators.MAX_REGIONS)]


class RegionOut(ApiModel):
    latitude: float
    longitude: float
    label: str


class TierChange(ApiModel):
    old_tier: Tier
    new_tier: Tier
    f1_score: float
    scored_evaluations: int
    reason: str
    created_at: datetime


class ValidatorStats(ApiModel):
    agent_id: UUID
    tier: Tier
    f1: float
    precision: float
    recall: float
    scored_evaluations: int
    response_rate: float | None
    daily_quota: int
    evaluations_today: int
    quota_left: int
    shadow_daily_quota: int
    shadow_evaluations_today: int
    suspended: bool
    suspension_reason: str | None
    suspended_until: datetime | None
    home_regions: list[RegionOut]
    evaluations: dict[str, int]
    tier_history: list[TierChange]
    joined_at: datetime
    tier_changed_at: datetime


class BackfillOut(ApiModel):
    added: int
    added_ids: list[UUID]
    pool_size: int
    active: int


class ValidatorRow(ApiModel):
    agent_id: UUID
    name: str
    owner_id: UUID
    tier: Tier
    f1: float
    scored_evaluations: int
    response_rate: float | None
    evaluations_today: int
    quota_day: date
    suspended_at: datetime | None
    joined_at: datetime


class SuspensionBody(RequestModel):
    suspended: bool
    reason: Reason | None = None
    until: AwareDatetime | None = None


class CollusionQuery(ParamsModel):
    days: Annotated[int, Field(ge=1, le=365)] = 30
    against_truth: bool = True


class CollusionPair(ApiModel):
    a: UUID
    b: UUID
    shared: int
    agreement: float


class CollusionReport(ApiModel):
    days: int
    against_truth: bool
    reviews: int
    min_shared: int
    threshold: float
    pairs: list[CollusionPair]
    truncated: bool = False  # more pairs qualified than the max_pairs listed (the worst first)
    max_pairs: int = 1000
    # Sock patterns among attestations in the same window (details: GET /v1/admin/collusion/socks).
    attestation_socks: dict[str, int] = Field(default_factory=dict)


@api_route(bp, "GET", "/v1/validator/stats", summary="Your tier, F1, response rate, quota and tier history",
           auth="agent", tag="validators", response=ValidatorStats, errors=(404,))
def stats(ctx: RequestContext) -> ValidatorStats:
    assert ctx.caller.agent_id is not None
    return ValidatorStats(**validators.validator_stats(bootstrap.unit_of_work(), ctx.caller.agent_id))


@api_route(bp, "PUT", "/v1/validator/regions", summary="Replace your home regions (at most 3)", auth="agent",
           tag="validators", body=RegionsBody, response=RegionOut, is_list=True, errors=(404,))
def regions(ctx: RequestContext) -> Reply:
    assert ctx.caller.agent_id is not None
    body: RegionsBody = ctx.body
    rows = validators.set_regions(bootstrap.unit_of_work(),
        ctx.caller.agent_id, [((r.latitude, r.longitude), r.label) for r in body.regions])
    return Reply([RegionOut(**r) for r in rows])


@api_route(bp, "POST", "/v1/admin/validators/backfill",
           summary="Add every active verified agent to the pool as apprentice (idempotent)", auth="admin",
           tag="validators", response=BackfillOut)
def backfill(ctx: RequestContext) -> BackfillOut:
    return BackfillOut(**validators.backfill(bootstrap.unit_of_work()))


def _row(r: dict[str, Any]) -> ValidatorRow:
    return ValidatorRow(
        agent_id=r["agent_id"], name=r["name"], owner_id=r["owner_id"], tier=r["tier"], f1=r["f1_score"],
        scored_evaluations=r["scored_evaluations"], response_rate=r["response_rate"],
        evaluations_today=r["evaluations_today"], quota_day=r["quota_day"], suspended_at=r["suspended_at"],
        joined_at=r["joined_at"],
    )


@api_route(bp, "GET", "/v1/admin/validators", summary="The validator pool, newest members first", auth="admin",
           tag="validators", query=PageQuery, response=ValidatorRow, is_list=True)
def list_pool(ctx: RequestContext) -> Reply:
    q: PageQuery = ctx.query
    before = uuid_cursor(q.cursor)
    rows = validators.list_validators(bootstrap.unit_of_work(), limit=q.limit + 1, before=before)
    page, more = rows[: q.limit], len(rows) > q.limit
    next_cursor = encode_cursor(page[-1]["joined_at"], page[-1]["agent_id"]) if more else None
    return Reply([_row(r) for r in page], meta={"next_cursor": next_cursor, "limit": q.limit})


@api_route(bp, "PUT", "/v1/admin/validators/{id}/suspension", summary="Suspend or reinstate a validator",
           auth="admin", tag="validators", path_params=IdPath, body=SuspensionBody, response=ValidatorStats,
           errors=(404,))
def suspension(ctx: RequestContext) -> ValidatorStats:
    body: SuspensionBody = ctx.body
    return ValidatorStats(**validators.set_suspension(bootstrap.unit_of_work(),
        ctx.path.id, suspended=body.suspended, reason=body.reason, until=body.until, actor=ctx.caller.actor))


class QuotaResetBody(RequestModel):
    reason: Reason
    modes: list[Literal["live", "shadow"]] = Field(default=["live", "shadow"], min_length=1,
                                                   max_length=2)


class QuotaResetOut(ApiModel):
    live_before: int
    shadow_before: int
    modes: list[str]
    stats: ValidatorStats


@api_route(bp, "POST", "/v1/admin/validators/{id}/quota/reset",
           summary="Give a validator today's quota back (live, shadow or both); audited", auth="admin",
           tag="validators", path_params=IdPath, body=QuotaResetBody, response=QuotaResetOut, errors=(404,))
def quota_reset(ctx: RequestContext) -> QuotaResetOut:
    body: QuotaResetBody = ctx.body
    result = validators.reset_quota(bootstrap.unit_of_work(), ctx.path.id, modes=sorted(set(body.modes)),
                                         actor=ctx.caller.actor,
                                         reason=body.reason)
    return QuotaResetOut(live_before=result["live_before"], shadow_before=result["shadow_before"],
                         modes=result["modes"], stats=ValidatorStats(**result["stats"]))


@api_route(bp, "GET", "/v1/admin/validators/collusion",
           summary="Validator pairs agreeing on more than 90 % of 20+ shared reviews", auth="admin",
           tag="validators", query=CollusionQuery, response=CollusionReport)
def collusion(ctx: RequestContext) -> CollusionReport:
    q: CollusionQuery = ctx.query
    socks = attestation_service.sock_report(bootstrap.unit_of_work(), days=q.days)
    counts = {k: socks[k] for k in ("same_owner_as_problem", "shared_owner_groups", "shared_address_groups")}
    return CollusionReport(**validator_reports.collusion_report(bootstrap.unit_of_work(), days=q.days,
                                                              against_truth=q.against_truth),
                           attestation_socks=counts)
