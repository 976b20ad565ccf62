"""The validator pool: backfill, a validator's stats, home regions, suspension, daily quotas."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.domain.consensus import LatLng
from chalicelib.domain.errors import NotFound, ValidationFailed
from chalicelib.observability import logger
from chalicelib.services.unit_of_work import UnitOfWork

MAX_REGIONS = 3


def backfill(uow: UnitOfWork, *, now: datetime | None = None) -> dict[str, Any]:
    """Every active verified agent joins the pool as an apprentice; running it again adds only newcomers."""
    now = now or datetime.now(UTC)
    settings = get_settings()
    with uow:
        added = uow.validators.backfill(verified_before=now - timedelta(days=settings.trust_verified_min_age_days),
            min_approvals=settings.trust_verified_min_approvals, now=now)
        pool = uow.validators.count()
    logger.info("validator pool backfilled", extra={"added": len(added), "pool": pool["total"]})
    return {"added": len(added), "added_ids": [str(a) for a in added], "pool_size": pool["total"],
            "active": pool["active"]}


def _member(uow: UnitOfWork, agent_id: UUID, *, for_update: bool = False) -> dict[str, Any]:
    validator = uow.validators.get(agent_id, for_update=for_update)
    if validator is None:
        raise NotFound("not in the validator pool", details={"agent_id": str(agent_id)})
    return validator


def validator_stats(uow: UnitOfWork, agent_id: UUID, *, now: datetime | None = None) -> dict[str, Any]:
    """A validator's tier, scores, response rate, quota today, regions, counts and tier history."""
    now = now or datetime.now(UTC)
    quota = get_settings().validator_daily_quota
    shadow_quota = get_settings().validator_shadow_daily_quota
    with uow:
        v = _member(uow, agent_id)
        today = v["evaluations_today"] if v["quota_day"] == now.date() else 0
        shadow_today = v["shadow_evaluations_today"] if v["shadow_quota_day"] == now.date() else 0
        return {
            "agent_id": v["agent_id"], "tier": v["tier"], "f1": v["f1_score"], "precision": v["precision_score"],
            "recall": v["recall_score"], "scored_evaluations": v["scored_evaluations"],
            "response_rate": v["response_rate"], "daily_quota": quota, "evaluations_today": today,
            "quota_left": max(0, quota - today),
            "shadow_daily_quota": shadow_quota, "shadow_evaluations_today": shadow_today,
            "suspended": _is_suspended(v, now), "suspension_reason": v["suspension_reason"],
            "suspended_until": v["suspended_until"],
            "home_regions": uow.validators.regions(agent_id),
            "evaluations": uow.validators.evaluation_counts(agent_id),
            "tier_history": uow.validators.tier_history(agent_id),
            "joined_at": v["joined_at"], "tier_changed_at": v["tier_changed_at"],
        }


def _is_suspended(v: dict[str, Any], now: datetime) -> bool:
    return v["suspended_at"] is not None and (v["suspended_until"] is None or v["suspended_until"] > now)


def set_regions(uow: UnitOfWork, agent_id: UUID, regions: Sequence[tuple[LatLng, str]]) -> list[dict[str, Any]]:
    """Replace the validator's home regions (at most 3, valid coordinates)."""
    if len(regions) > MAX_REGIONS:
        raise ValidationFailed(f"at most {MAX_REGIONS} home regions",
                               details=[{"field": "regions", "message": f"at most {MAX_REGIONS}"}])
    for (lat, lng), _ in regions:
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValidationFailed("coordinates out of range", details=[{"field": "regions", "message": "lat/lng"}])
    with uow:
        _member(uow, agent_id, for_update=True)  # the row lock serialises concurrent replacements
        uow.validators.replace_regions(agent_id, regions)
        return uow.validators.regions(agent_id)


def set_suspension(uow: UnitOfWork, agent_id: UUID, *, suspended: bool, reason: str | None, until: datetime | None,
                   actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Suspend (no new assignments; pending evaluations may still be answered) or reinstate a validator."""
    now = now or datetime.now(UTC)
    if suspended and not reason:
        raise ValidationFailed("a suspension needs a reason", details=[{"field": "reason", "message": "required"}])
    if until is not None and until <= now:
        raise ValidationFailed("until must be in the future", details=[{"field": "until", "message": "past"}])
    with uow:
        _member(uow, agent_id, for_update=True)
        uow.validators.set_suspension(agent_id, suspended=suspended, reason=reason, until=until, now=now)
    logger.info("validator suspension changed", extra={"agent_id": str(agent_id), "suspended": suspended,
                                                         "actor": actor})
    return validator_stats(uow, agent_id, now=now)


def reset_quota(uow: UnitOfWork, agent_id: UUID, *, modes: Sequence[str], actor: str, reason: str,
                now: datetime | None = None) -> dict[str, Any]:
    """An operator gives a validator today's quota back (live, shadow or both); audited (who, why, before)."""
    now = now or datetime.now(UTC)
    with uow:
        _member(uow, agent_id, for_update=True)
        before = uow.validators.reset_today(agent_id, modes=modes, actor=actor, reason=reason, now=now)
    logger.info("validator quota reset", extra={"agent_id": str(agent_id), "modes": list(modes), "actor": actor})
    return {**before, "modes": list(modes), "stats": validator_stats(uow, agent_id, now=now)}


def reset_quotas(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """The daily schedule: counters of earlier days go back to zero (assignment also ignores them)."""
    with uow:
        return uow.validators.reset_quotas(now=now or datetime.now(UTC))


def list_validators(uow: UnitOfWork, *, limit: int, before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    with uow:
        return uow.validators.page(limit=limit, before=before)
