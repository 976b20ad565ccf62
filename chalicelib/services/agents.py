"""Use cases of identities: register agents and humans, mint admin keys, authenticate, rate-limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from chalicelib.adapters import agents_repo, ledger_repo, rate_limits
from chalicelib.adapters.agents_repo import Principal
from chalicelib.config import get_settings
from chalicelib.db.pool import transaction
from chalicelib.domain import api_keys
from chalicelib.domain.errors import Forbidden, RateLimited, Unauthorized
from chalicelib.domain.ledger import FAUCET, agent_account, transfer
from chalicelib.domain.money import STARTER_GRANT


@dataclass(frozen=True)
class Registration:
    agent: dict[str, Any]
    api_key: str
    balance: int


def register_agent(
    *, kind: str, name: str, description: str, caller: Principal | None, owner_id: UUID | None = None
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
    from chalicelib.services import personal_data  # the cipher is built only when a human registers

    human = kind == "human"
    with transaction() as conn:
        # A human's name and description are personal: plain columns get a pseudonym, the values are sealed.
        agent = agents_repo.insert_agent(
            conn, agent_id=agent_id, kind=kind, name=personal_data.pseudonym(agent_id) if human else name,
            description="" if human else description, owner_id=owner
        )
        if human:
            personal_data.seal_human_profile(conn, agent_id, name=name, description=description)
            agent = {**agent, "name": name, "description": description}
        agents_repo.insert_key(
            conn, key_id=uuid4(), prefix=key.prefix, key_hash=key.key_hash, role=kind, agent_id=agent_id
        )
        ledger_repo.create_agent_account(conn, agent_id)
        ledger_repo.post_entry(
            conn,
            idempotency_key=f"starter-grant:{agent_id}",
            kind="starter_grant",
            legs=transfer(FAUCET, agent_account(agent_id), STARTER_GRANT),
            memo={"agent_id": str(agent_id)},
        )
    return Registration(agent=agent, api_key=key.plaintext, balance=STARTER_GRANT)


def create_admin_key(label: str = "") -> str:
    """A new admin key; the plaintext exists only in the return value."""
    key = api_keys.generate()
    with transaction() as conn:
        agents_repo.insert_key(
            conn, key_id=uuid4(), prefix=key.prefix, key_hash=key.key_hash, role="admin", agent_id=None,
            label=label,
        )
    return key.plaintext


def authenticate(authorization: str | None, *, now: datetime | None = None) -> Principal:
    """The principal behind an `Authorization: Bearer <key>` header, or Unauthorized."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("missing bearer API key")
    plaintext = authorization.removeprefix("Bearer ").strip()
    prefix = api_keys.parse_prefix(plaintext)
    if prefix is None:
        raise Unauthorized("invalid API key")
    now = now or datetime.now(UTC)
    with transaction() as conn:
        row = agents_repo.find_key(conn, prefix)
        if row is None or not api_keys.matches(plaintext, row["key_hash"]):
            raise Unauthorized("invalid API key")
        if row["revoked_at"] is not None:
            raise Unauthorized("API key revoked")
        if row["agent_id"] is not None and row["agent_status"] != "active":
            raise Forbidden("agent is not active")
        agents_repo.touch_key(conn, row["id"], now)
    return Principal(
        key_id=row["id"], role=row["role"], agent_id=row["agent_id"], owner_id=row["owner_id"],
        agent_kind=row["agent_kind"],
    )


def enforce_rate_limit(bucket: str, limit: int, window: timedelta = timedelta(minutes=1)) -> None:
    """Count one request against the bucket; RateLimited (with Retry-After) past the limit."""
    if bucket.startswith("ip:"):
        from chalicelib.services import personal_data

        # Client addresses are personal data: the bucket keeps a keyed hash of the address, never the address.
        # "ip:<address>:<path>": an IPv6 address holds colons, the route path starts with "/".
        cut = bucket.rfind(":/")
        address, rest = (bucket[3:cut], bucket[cut + 1:]) if cut > 3 else (bucket[3:], "")
        bucket = f"iph:{personal_data.client_address_key(address)}:{rest}"
    with transaction() as conn:
        allowed, retry_after = rate_limits.hit(conn, bucket, limit=limit, window=window)
    if not allowed:
        raise RateLimited("rate limit exceeded", retry_after_s=retry_after,
                          details={"limit": limit, "window_seconds": int(window.total_seconds())})


def limit_for(principal: Principal) -> int:
    settings = get_settings()
    return {
        "admin": settings.rate_limit_admin_per_min,
        "human": settings.rate_limit_human_per_min,
    }.get(principal.role, settings.rate_limit_agent_per_min)


def get_agent_profile(agent_id: UUID) -> dict[str, Any]:
    with transaction() as conn:
        agent = agents_repo.get_agent(conn, agent_id)
        balance = ledger_repo.balance_of(conn, agent_account(agent_id))
    assert agent is not None
    from chalicelib.services import personal_data

    return {**personal_data.open_profile(agent), "balance": balance}
