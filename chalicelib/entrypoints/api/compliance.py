"""The agent compliance score: an agent reads its own, operators read anyone's."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel

from chalicelib import bootstrap
from chalicelib.entrypoints.api.framework import RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath
from chalicelib.services import compliance as compliance_service

bp = Blueprint(__name__)


class ComplianceCountsOut(BaseModel):
    layer_a_blocks: int
    admin_overturns: int
    flags: int


class ComplianceOut(BaseModel):
    agent_id: UUID
    score: int
    compliant: bool
    threshold: int
    window_days: int
    counts: ComplianceCountsOut
    weights: ComplianceCountsOut
    as_of: datetime


@api_route(bp, "GET", "/v1/agents/me/compliance",
           summary="Your compliance score over 30 days (below 60: no peer path, no validator duty)",
           auth="member", tag="agents", response=ComplianceOut)
def my_compliance(ctx: RequestContext) -> ComplianceOut:
    assert ctx.caller.agent_id is not None
    return ComplianceOut.model_validate(compliance_service.agent_compliance(bootstrap.unit_of_work(),
                                                                            ctx.caller.agent_id).to_dict())


@api_route(bp, "GET", "/v1/admin/agents/{id}/compliance", summary="An agent's compliance score and its counts",
           auth="admin", tag="admin: agents", path_params=IdPath, response=ComplianceOut, errors=(404,))
def agent_compliance(ctx: RequestContext) -> ComplianceOut:
    return ComplianceOut.model_validate(compliance_service.agent_compliance(bootstrap.unit_of_work(),
                                                                            ctx.path.id).to_dict())
