"""Operator use cases on feature flags: read, change (with the traffic safety gate), roll back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from chalicelib.domain import routing
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.flags import CACHE_TTL_S, FLAGS, resolve, spec_for
from chalicelib.observability import logger, metrics
from chalicelib.services.unit_of_work import UnitOfWork

TRAFFIC_FLAG = "PEER_VALIDATION_TRAFFIC_PCT"
SHADOW_WINDOW = timedelta(days=7)


def _stored(uow: UnitOfWork, *, lock_name: str | None = None) -> dict[str, dict[str, Any]]:
    return uow.flags.stored(lock_name=lock_name)


def _view(name: str, stored: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec = spec_for(name)
    row = stored.get(name)
    effective = resolve({name: row["value"]} if row else {})[name]
    valid = True
    if row is not None:
        try:
            spec.validate(row["value"])
        except (ValidationFailed, OverflowError):
            valid = False  # a bad stored value reads as the default and is reported, never raised
    return {
        **spec.to_dict(),
        "value": effective,
        "stored_value": row["raw"] if row else None,  # the JSON text as stored, valid or not
        "stored_value_valid": valid,
        "updated_at": row["updated_at"] if row else None,
        "updated_by": row["updated_by"] if row else None,
    }


def list_flags(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every flag of the schema with its effective value; a stored value that fails validation is shown
    beside the default it falls back to."""
    with uow:
        stored = _stored(uow)
    return [_view(name, stored) for name in FLAGS]


def _known(name: str) -> None:
    if name not in FLAGS:
        raise NotFound("unknown flag", details={"flag": name, "known": sorted(FLAGS)})


def get_flag(uow: UnitOfWork, name: str) -> dict[str, Any]:
    _known(name)
    with uow:
        view = _view(name, _stored(uow))
        view["history"] = uow.flags.history(name, limit=20)
    return view


def shadow_agreement(uow: UnitOfWork, now: datetime) -> tuple[int, int]:
    """(agreements, comparisons) of shadow consensus with Layer B over the last 7 days."""
    return uow.evaluations.shadow_agreement(now - SHADOW_WINDOW)


def set_flag(uow: UnitOfWork, name: str, value: Any, *, reason: str, force: bool, actor: str,
             now: datetime | None = None) -> dict[str, Any]:
    """Validate, gate and store a flag change with its audit row.

    Raising PEER_VALIDATION_TRAFFIC_PCT needs a 7-day shadow agreement >= 4/5 over >= 100
    comparisons (``routing.traffic_raise_allowed``, fractions compared with fractions); otherwise it
    is a Conflict carrying the figures, unless ``force`` is set (the reason is then the operator's
    justification, audited with ``forced``). Lowering is always allowed.
    """
    now = now or datetime.now(UTC)
    _known(name)
    spec = spec_for(name)
    new_value = spec.validate(value)
    gate: dict[str, Any] | None = None
    with uow:
        stored = _stored(uow, lock_name=name)
        current = _view(name, stored)["value"]
        if name == TRAFFIC_FLAG:
            agreements, comparisons = shadow_agreement(uow, now)
            agreement = Fraction(agreements, comparisons) if comparisons else None
            allowed, why = routing.traffic_raise_allowed(
                int(current), int(new_value), agreement, comparisons, force)
            gate = {
                "allowed": allowed, "reason": why, "current_pct": current, "requested_pct": new_value,
                "shadow_agreement": None if agreement is None else float(agreement),
                "agreements": agreements, "comparisons": comparisons,
                "required_agreement": float(routing.MIN_SHADOW_AGREEMENT),
                "required_comparisons": routing.MIN_SHADOW_COMPARISONS, "window_days": SHADOW_WINDOW.days,
                "forced": force,
            }
            if not allowed:
                raise Conflict("raising peer traffic needs more shadow agreement (or force with a reason)",
                               details=gate)
        old, new = uow.flags.set_flag(name, new_value, actor=actor, reason=reason, forced=force)
        view = _view(name, _stored(uow))
    logger.info("feature flag changed", extra={"flag": name, "old": old, "new": new, "forced": force,
                                                "actor": actor})
    metrics.add_metric(name="FlagChanges", unit="Count", value=1)
    return {**view, "previous_value": old, "gate": gate}


def rollback(uow: UnitOfWork, *, reason: str, actor: str) -> dict[str, Any]:
    """Send every new routing decision back to Layer B: PEER_VALIDATION_TRAFFIC_PCT = 0 at once.

    Audited like any change; this process sees it immediately, every other within the flag cache
    TTL. Submissions already with peers finish there (their reviews still resolve or time out).
    """
    with uow:
        old, new = uow.flags.set_flag(TRAFFIC_FLAG, 0, actor=actor, reason=f"rollback: {reason}")
    logger.warning("peer traffic rolled back", extra={"old": old, "actor": actor})
    metrics.add_metric(name="Rollbacks", unit="Count", value=1)
    return {"flag": TRAFFIC_FLAG, "previous_value": old, "value": new,
            "effective_within_seconds": CACHE_TTL_S}
