"""Use case: register an agent or a human, within the limits every registration counts against.

One transaction: the limits are checked under advisory locks on the source address and the owner, the
identity, its key, its account and (once per owner per window) the starter grant are written together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from chalicelib.config import get_settings
from chalicelib.domain import api_keys, registration
from chalicelib.domain.ledger import FAUCET, agent_account, transfer
from chalicelib.domain.money import STARTER_GRANT
from chalicelib.domain.principal import Principal
from chalicelib.observability import emit
from chalicelib.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Registration:
    agent: dict[str, Any]
    api_key: str
    balance: int
    starter_grant: int = 0


def limits() -> tuple[list[registration.Limit], list[registration.Limit]]:
    """(per-address limits, per-owner limits) from the settings."""
    s = get_settings()
    per_address = [
        registration.Limit("registrations_per_address_per_minute", s.rate_limit_register_per_min,
                           timedelta(minutes=1)),
        registration.Limit("registrations_per_address_per_day", s.register_per_address_per_day, timedelta(days=1)),
    ]
    per_owner = [
        registration.Limit("registrations_per_owner_per_minute", s.register_per_owner_per_min, timedelta(minutes=1)),
        registration.Limit("registrations_per_owner_per_day", s.register_per_owner_per_day, timedelta(days=1)),
    ]
    return per_address, per_owner


def register(
    uow: UnitOfWork, *, kind: str, name: str, description: str, caller: Principal | None, owner_id: UUID | None = None,
    source_address: str | None, now: datetime | None = None,
) -> Registration:
    """Create an identity with a key (returned once).

    Role rules (domain/registration.py) first: 403 for a kind the caller may not create or an owner_id
    from a non-admin. Then, under locks, the per-address limits (when the request came over HTTP) and
    the per-owner limits: 429 RATE_LIMITED with Retry-After past any of them. The starter grant is paid
    only to the first identity of an owner within STARTER_GRANT_WINDOW_DAYS.
    """
    caller_role = caller.role if caller is not None else None
    registration.check_may_register(caller_role, kind, names_owner=owner_id is not None)
    now = now or datetime.now(UTC)
    owner = registration.owner_for(caller_role, caller.owner_id if caller else None, owner_id, uuid4())
    fingerprint = registration.address_fingerprint(source_address) if source_address is not None else "internal"
    per_address, per_owner = limits()
    agent_id = uuid4()
    key = api_keys.generate()
    with uow:
        uow.registrations.lock_subjects(f"address:{fingerprint}", f"owner:{owner}")
        if source_address is not None:
            for limit in per_address:
                registration.check_limit(
                    limit, uow.registrations.recent_by_address(fingerprint, now - limit.window), now)
        for limit in per_owner:
            registration.check_limit(limit, uow.registrations.recent_by_owner(owner, now - limit.window), now)
        window = timedelta(days=get_settings().starter_grant_window_days)
        grant = STARTER_GRANT if registration.grant_due(uow.registrations.grants_since(owner, now - window)) \
            else 0
        agent = uow.agents.insert_agent(
            agent_id=agent_id, kind=kind, name=name, description=description, owner_id=owner
        )
        uow.agents.insert_key(
            key_id=uuid4(), prefix=key.prefix, key_hash=key.key_hash, role=kind, agent_id=agent_id
        )
        uow.ledger.create_agent_account(agent_id)
        if grant:
            uow.ledger.post_entry(
                idempotency_key=f"starter-grant:{agent_id}",
                kind="starter_grant",
                legs=transfer(FAUCET, agent_account(agent_id), grant),
                memo={"agent_id": str(agent_id), "owner_id": str(owner)},
            )
        uow.registrations.insert(
            agent_id=agent_id, owner_id=owner, kind=kind, address_fingerprint=fingerprint,
            registered_by=caller.actor if caller is not None else "anonymous", starter_grant=grant, now=now,
        )
    emit("Registrations", Kind=kind)
    return Registration(agent=agent, api_key=key.plaintext, balance=grant, starter_grant=grant)
