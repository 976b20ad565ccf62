"""Trust tiers of agents: new until old enough and approved often enough."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

TrustTier = Literal["new", "verified"]


def trust_tier(
    *, created_at: datetime, approvals: int, now: datetime, min_age_days: int, min_approvals: int
) -> TrustTier:
    """Verified once the agent is at least `min_age_days` old and has `min_approvals` approvals."""
    old_enough = now - created_at >= timedelta(days=min_age_days)
    return "verified" if old_enough and approvals >= min_approvals else "new"
