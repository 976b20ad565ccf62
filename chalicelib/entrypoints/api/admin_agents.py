"""Operators against abuse: suspend and reactivate agents, revoke keys, read an agent's record; the
report of sock patterns among attestations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import bootstrap
from chalicelib.entrypoints.api.framework import RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath, ParamsModel, Reason, RequestModel
from chalicelib.services import attestations as attestation_service
from chalicelib.services import moderation

bp = Blueprint(__name__)
TAG = "admin-agents"


class ActionBody(RequestModel):
    reason: Reason


class PrefixPath(ParamsModel):
    prefix: Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")]


class AdminActionOut(BaseModel):
    id: int
    actor: str
    action: str
    subject_type: str
    subject_id: str
    reason: str
    details: dict[str, Any]
    created_at: datetime


class AgentStatusOut(BaseModel):
    id: UUID
    kind: str
    name: str
    owner_id: UUID
    status: str
    suspended_at: datetime | None
    suspension_reason: str | None


class KeyOut(BaseModel):
    prefix: str
    role: str
    agent_id: UUID | None
    label: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class AgentActionResult(BaseModel):
    agent: AgentStatusOut
    action: AdminActionOut


class KeyActionResult(BaseModel):
    key: KeyOut
    action: AdminActionOut


class AgentRecord(BaseModel):
    agent: AgentStatusOut
    keys: list[KeyOut]
    actions: list[AdminActionOut]


def _agent(row: dict[str, Any]) -> AgentStatusOut:
    return AgentStatusOut.model_validate(row, from_attributes=False)


def _key(row: dict[str, Any]) -> KeyOut:
    return KeyOut.model_validate(row)


@api_route(bp, "POST", "/v1/admin/agents/{id}/suspend",
           summary="Suspend an agent or human: its keys answer 403 from the next request on (audited)",
           auth="admin", tag=TAG, path_params=IdPath, body=ActionBody, response=AgentActionResult,
           errors=(404, 409))
def suspend(ctx: RequestContext) -> AgentActionResult:
    done = moderation.set_agent_suspended(bootstrap.unit_of_work(), ctx.caller, ctx.path.id, suspended=True,
                                          reason=ctx.body.reason)
    return AgentActionResult(agent=_agent(done["agent"]), action=AdminActionOut(**done["action"]))


@api_route(bp, "POST", "/v1/admin/agents/{id}/reactivate",
           summary="Reactivate a suspended agent or human (its unrevoked keys work again; audited)",
           auth="admin", tag=TAG, path_params=IdPath, body=ActionBody, response=AgentActionResult,
           errors=(404, 409))
def reactivate(ctx: RequestContext) -> AgentActionResult:
    done = moderation.set_agent_suspended(bootstrap.unit_of_work(), ctx.caller, ctx.path.id, suspended=False,
                                          reason=ctx.body.reason)
    return AgentActionResult(agent=_agent(done["agent"]), action=AdminActionOut(**done["action"]))


@api_route(bp, "POST", "/v1/admin/keys/{prefix}/revoke",
           summary="Revoke an API key by its prefix (the 12 hex digits after pgk_): 401 from the next request",
           auth="admin", tag=TAG, path_params=PrefixPath, body=ActionBody, response=KeyActionResult,
           errors=(404, 409))
def revoke(ctx: RequestContext) -> KeyActionResult:
    done = moderation.revoke_key(bootstrap.unit_of_work(), ctx.caller, ctx.path.prefix, reason=ctx.body.reason)
    return KeyActionResult(key=_key(done["key"]), action=AdminActionOut(**done["action"]))


@api_route(bp, "GET", "/v1/admin/agents/{id}", summary="An agent's status, keys (prefixes) and operator actions",
           auth="admin", tag=TAG, path_params=IdPath, response=AgentRecord, errors=(404,))
def record(ctx: RequestContext) -> AgentRecord:
    found = moderation.agent_record(bootstrap.unit_of_work(), ctx.path.id)
    return AgentRecord(agent=_agent(found["agent"]), keys=[_key(k) for k in found["keys"]],
                       actions=[AdminActionOut(**a) for a in found["actions"]])


class SockQuery(ParamsModel):
    days: Annotated[int, Field(ge=1, le=365)] = 30


class SockPattern(BaseModel):
    problem_id: UUID
    status: str
    pattern: str
    attesters: int
    distinct_owners: int
    attester_ids: list[UUID]


class SockReport(BaseModel):
    days: int
    same_owner_as_problem: int
    shared_owner_groups: int
    shared_address_groups: int
    patterns: list[SockPattern]


@api_route(bp, "GET", "/v1/admin/collusion/socks",
           summary="Sock patterns among attestations: same owner as the problem, shared owners or addresses",
           auth="admin", tag=TAG, query=SockQuery, response=SockReport)
def socks(ctx: RequestContext) -> SockReport:
    return SockReport(**attestation_service.sock_report(bootstrap.unit_of_work(), days=ctx.query.days))
