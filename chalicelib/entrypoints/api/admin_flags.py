"""Feature flags for operators: read, change (the traffic raise is gated), roll back peer traffic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import bootstrap
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import ParamsModel, Reason, RequestModel
from chalicelib.services import flags as flag_service

bp = Blueprint(__name__)


class FlagPath(ParamsModel):
    name: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]


class FlagOut(BaseModel):
    name: str
    type: str
    default: Any
    minimum: float | None
    maximum: float | None
    description: str
    value: Any
    stored_value: str | None
    stored_value_valid: bool
    updated_at: datetime | None
    updated_by: str | None


class FlagChange(BaseModel):
    name: str
    old_value: Any
    new_value: Any
    reason: str
    actor: str
    forced: bool
    created_at: datetime


class FlagDetail(FlagOut):
    history: list[FlagChange]


class FlagWritten(FlagOut):
    previous_value: Any
    gate: dict[str, Any] | None


class SetFlag(RequestModel):
    value: Any
    reason: Reason
    force: bool = False


class RollbackBody(RequestModel):
    reason: Reason


class RollbackOut(BaseModel):
    flag: str
    previous_value: Any
    value: Any
    effective_within_seconds: float


@api_route(bp, "GET", "/v1/admin/flags", summary="Every feature flag with its effective value", auth="admin",
           tag="flags", response=FlagOut, is_list=True)
def list_flags(ctx: RequestContext) -> Reply:
    return Reply([FlagOut(**f) for f in flag_service.list_flags(bootstrap.unit_of_work())])


@api_route(bp, "GET", "/v1/admin/flags/{name}", summary="One flag with its recent changes", auth="admin",
           tag="flags", path_params=FlagPath, response=FlagDetail, errors=(404,))
def get_flag(ctx: RequestContext) -> FlagDetail:
    return FlagDetail(**flag_service.get_flag(bootstrap.unit_of_work(), ctx.path.name))


@api_route(bp, "PUT", "/v1/admin/flags/{name}",
           summary="Change a flag (validated, audited; raising peer traffic needs shadow agreement or force)",
           auth="admin", tag="flags", path_params=FlagPath, body=SetFlag, response=FlagWritten, errors=(404, 409))
def put_flag(ctx: RequestContext) -> FlagWritten:
    body: SetFlag = ctx.body
    return FlagWritten(**flag_service.set_flag(bootstrap.unit_of_work(), ctx.path.name, body.value,
                                               reason=body.reason, force=body.force,
                                               actor=ctx.caller.actor))


@api_route(bp, "POST", "/v1/admin/rollback",
           summary="Roll back: PEER_VALIDATION_TRAFFIC_PCT = 0 for every new routing decision", auth="admin",
           tag="flags", body=RollbackBody, response=RollbackOut)
def rollback(ctx: RequestContext) -> RollbackOut:
    body: RollbackBody = ctx.body
    return RollbackOut(**flag_service.rollback(bootstrap.unit_of_work(), reason=body.reason, actor=ctx.caller.actor))
