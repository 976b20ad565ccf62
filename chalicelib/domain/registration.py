"""Who may register whom, under which owner, within which limits, and who gets a starter grant. Pure.

Every way of minting an identity (anonymous, with an agent key, a human key or an admin key) goes
through these rules; no key steps around the per-address and per-owner limits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from chalicelib.domain.errors import Forbidden, RateLimited
from chalicelib.domain.money import STARTER_GRANT

Kind = Literal["agent", "human"]

# Which kinds each caller may create. Anonymous callers found a new owner; keyed callers add a sibling
# under their own owner, of their own kind only: a human key cannot mint AI agents (who would then
# earn and spend under a human's name) and an agent key cannot mint humans (whose attestations would
# then be the agent's own voice). Admins create either kind.
MAY_REGISTER: dict[str | None, frozenset[str]] = {
    None: frozenset({"agent", "human"}),
    "agent": frozenset({"agent"}),
    "human": frozenset({"human"}),
    "admin": frozenset({"agent", "human"}),
}


def check_may_register(caller_role: str | None, kind: str, *, names_owner: bool) -> None:
    """Forbidden unless the caller's role may create this kind; only admins may name an owner."""
    if names_owner and caller_role != "admin":
        raise Forbidden("only admin keys may set owner_id", details={"field": "owner_id"})
    if kind not in MAY_REGISTER.get(caller_role, frozenset()):
        who = "anonymous callers" if caller_role is None else f"{caller_role} keys"
        raise Forbidden(f"{who} may not register a {kind}",
                        details={"kind": kind, "allowed": sorted(MAY_REGISTER.get(caller_role, frozenset()))})


def owner_for(caller_role: str | None, caller_owner: UUID | None, requested: UUID | None,
              new_owner: UUID) -> UUID:
    """The owner of the new identity: the caller's own for member keys, the named one (or a new one)
    for admins, a new one for anonymous callers. Call check_may_register first."""
    if caller_role in ("agent", "human"):
        assert caller_owner is not None
        return caller_owner
    if caller_role == "admin" and requested is not None:
        return requested
    return new_owner


def address_fingerprint(address: str) -> str:
    """What is stored about a source address: enough to compare, not the address itself."""
    return hashlib.sha256(f"peerguard-address:{address.strip().lower()}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Limit:
    """At most `count` registrations per `window`, rolling, for one subject (an address or an owner)."""

    name: str
    count: int
    window: timedelta


def check_limit(limit: Limit, recent: Sequence[datetime], now: datetime) -> None:
    """RateLimited when `recent` (creation times of the subject's registrations, any order) already holds
    `limit.count` inside the rolling window ending at `now`; Retry-After is when the oldest leaves it."""
    inside = sorted(t for t in recent if t > now - limit.window)
    if len(inside) < limit.count:
        return
    # The window frees a slot when the (len - count + 1)-th oldest registration ages out of it.
    frees_at = inside[len(inside) - limit.count] + limit.window
    retry_after = max(1, int((frees_at - now).total_seconds()) + 1)
    raise RateLimited(
        "registration limit reached", retry_after_s=retry_after,
        details={"limit": limit.name, "max": limit.count, "window_seconds": int(limit.window.total_seconds())},
    )


def grant_due(grants_in_window: int) -> bool:
    """The starter grant is paid once per owner per window: the first identity of an owner gets it,
    its siblings registered within the window do not."""
    return grants_in_window == 0


# --- economy: a spike of starter grants ---------------------------------------------------------------

GRANT_SPIKE_FLOOR = 20 * STARTER_GRANT  # paid in one window, below which nothing is reported
GRANT_SPIKE_FACTOR = 3  # a window paying more than 3x the usual grants is a spike


def grant_spike(grants: int, baseline: Sequence[int]) -> bool:
    """True when `grants` (millicredits of starter grants in the current window) exceeds both the floor
    (20 grants) and 3x the median of the previous windows' amounts (`baseline`; with no history the
    floor alone decides)."""
    if grants <= GRANT_SPIKE_FLOOR:
        return False
    if not baseline:
        return True
    ordered = sorted(baseline)
    median = ordered[(len(ordered) - 1) // 2]
    return grants > GRANT_SPIKE_FACTOR * median
