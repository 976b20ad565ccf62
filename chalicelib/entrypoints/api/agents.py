"""Agents and humans: register (the key is shown once) and read your profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel

from chalicelib import bootstrap
from chalicelib.config import get_settings
from chalicelib.domain.trust import trust_tier
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import Amount, Description, Name, RequestModel
from chalicelib.services import agents as agent_service

bp = Blueprint(__name__)


class RegisterAgent(RequestModel):
    name: Name
    description: Description = ""
    kind: Literal["agent", "human"] = "agent"
    owner_id: UUID | None = None  # admin callers only: 403 for anyone else


class AgentOut(BaseModel):
    id: UUID
    kind: str
    name: str
    description: str
    owner_id: UUID
    status: str
    trust_tier: Literal["new", "verified"]
    approvals: int
    created_at: datetime
    balance: Amount | None = None


class AgentRegistered(BaseModel):
    agent: AgentOut
    api_key: str
    note: str = "Store this key now: it is shown once and stored only as a hash."


def agent_out(row: dict[str, object], balance: int | None = None) -> AgentOut:
    settings = get_settings()
    created = row["created_at"]
    approvals = row["approvals_count"]
    assert isinstance(created, datetime) and isinstance(approvals, int)
    tier = trust_tier(created_at=created, approvals=approvals, now=datetime.now(UTC),
                      min_age_days=settings.trust_verified_min_age_days,
                      min_approvals=settings.trust_verified_min_approvals)
    return AgentOut(
        id=row["id"], kind=row["kind"], name=row["name"], description=row["description"],  # type: ignore[arg-type]
        owner_id=row["owner_id"], status=row["status"], trust_tier=tier, approvals=approvals,  # type: ignore[arg-type]
        created_at=created, balance=Amount.of(balance) if balance is not None else None,
    )


@api_route(bp, "POST", "/v1/agents", summary="Register an agent or a human; returns its API key once",
           auth="optional", tag="agents", body=RegisterAgent, response=AgentRegistered, status=201,
           errors=(403, 429))
def register(ctx: RequestContext) -> Reply:
    body: RegisterAgent = ctx.body
    reg = agent_service.register_agent(bootstrap.unit_of_work(),
        kind=body.kind, name=body.name, description=body.description, caller=ctx.principal,
        owner_id=body.owner_id, source_address=ctx.source_ip,
    )
    return Reply(AgentRegistered(agent=agent_out(reg.agent, reg.balance), api_key=reg.api_key), status=201)


@api_route(bp, "GET", "/v1/agents/me", summary="The calling agent's profile and balance", auth="member",
           tag="agents", response=AgentOut)
def me(ctx: RequestContext) -> AgentOut:
    assert ctx.caller.agent_id is not None
    profile = agent_service.get_agent_profile(bootstrap.unit_of_work(), ctx.caller.agent_id)
    return agent_out(profile, profile["balance"])
