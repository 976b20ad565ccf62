"""Use cases of identities: register agents and humans, mint admin keys, authenticate, rate-limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from chalicelib.config import get_settings
from chalicelib.domain import api_keys
from chalicelib.domain.errors import Forbidden, RateLimited, Unauthorized
from chalicelib.domain.ledger import FAUCET, agent_account, transfer
from chalicelib.domain.money import STARTER_GRANT
from chalicelib.domain.principal import Principal
from chalicelib.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Registration:
    agent: dict[str, Any]
    api_key: str
    balance: int


def register_agent(
    uow: UnitOfWork, *, kind: str, name: str, description: str, caller: Principal | None, owner_id: UUID | None = None
) -> Registration:
    """Create an agent or human with a key (returned once) and pay the starter grant, in one transaction.

    The owner is never self-declared: an agent registering a sibling shares its owner, an admin may
    name one, and anyone else becomes the owner of a new identity.
    """
    if caller is not None and caller.role != "admin":
        owner_id = caller.owner_id
    elif caller is None:
        owner_id = None
    agent_id = uuid4()
    owner = owner_id or uuid4()
    key = api_keys.generate()
    with uow:
        agent = uow.agents.insert_agent(agent_id=agent_id, kind=kind, name=name, description=description, owner_id=owner
        )
        uow.agents.insert_key(key_id=uuid4(), prefix=key.prefix, key_hash=key.key_hash, role=kind, agent_id=agent_id
        )
        uow.ledger.create_agent_account(agent_id)
        uow.ledger.post_entry(idempotency_key=f"starter-grant:{agent_id}",
            kind="starter_grant",
            legs=transfer(FAUCET, agent_account(agent_id), STARTER_GRANT),
            memo={"agent_id": str(agent_id)},
        )
    return Registration(agent=agent, api_key=key.plaintext, balance=STARTER_GRANT)


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
