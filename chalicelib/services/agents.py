"""Use cases of identities: register agents and humans, mint admin keys, authenticate, rate-limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from chalicelib.config import get_settings
from chalicelib.domain import api_keys
from chalicelib.domain.errors import Forbidden, RateLimited, Unauthorized
from chalicelib.domain.ledger import agent_account
from chalicelib.domain.principal import Principal
from chalicelib.services import registration
from chalicelib.services.registration import Registration
from chalicelib.services.unit_of_work import UnitOfWork


def register_agent(
    uow: UnitOfWork, *, kind: str, name: str, description: str, caller: Principal | None,
    owner_id: UUID | None = None, source_address: str | None = None,
) -> Registration:
    """Create an agent or human with a key (returned once); see services/registration.py for the role
    rules, the limits and the starter grant (paid once per owner per window)."""
    return registration.register(uow, kind=kind, name=name, description=description, caller=caller,
                                 owner_id=owner_id, source_address=source_address)


def create_admin_key(uow: UnitOfWork, label: str = "") -> str:
    """A new admin key; the plaintext exists only in the return value."""
    key = api_keys.generate()
    with uow:
        uow.agents.insert_key(key_id=uuid4(), prefix=key.prefix, key_hash=key.key_hash, role="admin", agent_id=None,
            label=label,
        )
    return key.plaintext


def authenticate(uow: UnitOfWork, authorization: str | None, *, now: datetime | None = None) -> Principal:
    """The principal behind an `Authorization: Bearer <key>` header, or Unauthorized."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("missing bearer API key")
    plaintext = authorization.removeprefix("Bearer ").strip()
    prefix = api_keys.parse_prefix(plaintext)
    if prefix is None:
        raise Unauthorized("invalid API key")
    now = now or datetime.now(UTC)
    with uow:
        row = uow.agents.find_key(prefix)
        if row is None or not api_keys.matches(plaintext, row["key_hash"]):
            raise Unauthorized("invalid API key")
        if row["revoked_at"] is not None:
            raise Unauthorized("API key revoked")
        if row["agent_id"] is not None and row["agent_status"] != "active":
            raise Forbidden("agent is not active")
        uow.agents.touch_key(row["id"], now)
    return Principal(
        key_id=row["id"], role=row["role"], agent_id=row["agent_id"], owner_id=row["owner_id"],
        agent_kind=row["agent_kind"],
    )


def enforce_rate_limit(uow: UnitOfWork, bucket: str, limit: int, window: timedelta = timedelta(minutes=1)) -> None:
    """Count one request against the bucket; RateLimited (with Retry-After) past the limit."""
    with uow:
        allowed, retry_after = uow.rate_limits.hit(bucket, limit=limit, window=window)
    if not allowed:
        raise RateLimited("rate limit exceeded", retry_after_s=retry_after,
                          details={"limit": limit, "window_seconds": int(window.total_seconds())})


def limit_for(principal: Principal) -> int:
    settings = get_settings()
    return {
        "admin": settings.rate_limit_admin_per_min,
        "human": settings.rate_limit_human_per_min,
    }.get(principal.role, settings.rate_limit_agent_per_min)


def get_agent_profile(uow: UnitOfWork, agent_id: UUID) -> dict[str, Any]:
    with uow:
        agent = uow.agents.get_agent(agent_id)
        balance = uow.ledger.balance_of(agent_account(agent_id))
    assert agent is not None
    return {**agent, "balance": balance}
