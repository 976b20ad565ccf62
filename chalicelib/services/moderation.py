"""Use cases of operators against abuse: suspend and reactivate an agent, revoke a key. Audited.

Authentication reads the agent's status and the key's revocation on every request (no cache), so each
action takes effect on the very next request of the agent or key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.principal import Principal
from chalicelib.observability import logger
from chalicelib.services.unit_of_work import UnitOfWork


def set_agent_suspended(uow: UnitOfWork, admin: Principal, agent_id: UUID, *, suspended: bool, reason: str,
                        now: datetime | None = None) -> dict[str, Any]:
    """Suspend an active agent (or human) or reactivate a suspended one; 404 unknown, 409 wrong state.

    A suspended identity's keys answer 403 and it leaves the validator pool; its keys are kept, so
    reactivation restores them (revoke a key to end it for good)."""
    now = now or datetime.now(UTC)
    action = "agent_suspended" if suspended else "agent_reactivated"
    with uow:
        agent = uow.agents.get_agent(agent_id, for_update=True)
        if agent is None:
            raise NotFound("agent not found")
        if not uow.agents.set_suspended(agent_id, suspended=suspended, reason=reason, now=now):
            raise Conflict(f"agent is {agent['status']}", details={"status": agent["status"]})
        audit = uow.admin_actions.record(
            actor=admin.actor, action=action, subject_type="agent", subject_id=str(agent_id), reason=reason,
            details={"previous_status": agent["status"], "owner_id": str(agent["owner_id"])}, now=now)
        updated = uow.agents.get_agent(agent_id)
    assert updated is not None
    logger.info("admin action", extra={"action": action, "agent_id": str(agent_id), "actor": admin.actor})
    return {"agent": updated, "action": audit}


def revoke_key(uow: UnitOfWork, admin: Principal, prefix: str, *, reason: str,
               now: datetime | None = None) -> dict[str, Any]:
    """Revoke the key with this prefix (the 12 hex digits after `pgk_`); 404 unknown, 409 already revoked
    or the caller's own key (an operator does not lock themself out by mistake)."""
    now = now or datetime.now(UTC)
    with uow:
        key = uow.agents.key_by_prefix(prefix, for_update=True)
        if key is None:
            raise NotFound("key not found")
        if key["revoked_at"] is not None:
            raise Conflict("key already revoked", details={"revoked_at": key["revoked_at"].isoformat()})
        if key["id"] == admin.key_id:
            raise Conflict("this is the key you are calling with; revoke it with another admin key")
        uow.agents.revoke_key(key["id"])
        audit = uow.admin_actions.record(
            actor=admin.actor, action="key_revoked", subject_type="api_key", subject_id=prefix, reason=reason,
            details={"role": key["role"], "agent_id": str(key["agent_id"]) if key["agent_id"] else None}, now=now)
        updated = uow.agents.key_by_prefix(prefix)
    assert updated is not None
    logger.info("admin action", extra={"action": "key_revoked", "prefix": prefix, "actor": admin.actor})
    return {"key": updated, "action": audit}


def agent_record(uow: UnitOfWork, agent_id: UUID) -> dict[str, Any]:
    """An agent as operators see it: status, keys (prefixes only) and the actions taken on it."""
    with uow:
        agent = uow.agents.get_agent(agent_id)
        if agent is None:
            raise NotFound("agent not found")
        keys = uow.agents.keys_of(agent_id)
        actions = uow.admin_actions.of_subject("agent", str(agent_id))
        for key in keys:
            actions += uow.admin_actions.of_subject("api_key", key["prefix"])
    actions.sort(key=lambda a: (a["created_at"], a["id"]), reverse=True)
    return {"agent": agent, "keys": keys, "actions": actions}
