"""Use cases of consent: a human reads and changes their consents; the stages ask whether one holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.domain import consent
from chalicelib.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ConsentChange:
    purpose: consent.Purpose
    granted: bool


def _view(uow: UnitOfWork, human_id: UUID) -> dict[str, Any]:
    records = uow.consents.current(human_id)
    purposes = []
    for name, rule in consent.PURPOSES.items():
        record = records.get(name)
        purposes.append({
            "purpose": name, "description": rule.description, "granted": consent.holds(name, record),
            "answered": record is not None, "default": rule.default,
            "policy_version": record.policy_version if record else None,
            "source": record.source if record else None,
            "granted_at": record.granted_at if record else None,
            "withdrawn_at": record.withdrawn_at if record else None,
        })
    return {"policy_version": consent.POLICY_VERSION, "consents": purposes,
            "history": uow.consents.history(human_id)}


def get_consents(uow: UnitOfWork, human_id: UUID) -> dict[str, Any]:
    """Every purpose with what holds now (the human's answer or the default) and the history."""
    with uow:
        return _view(uow, human_id)


def set_consents(uow: UnitOfWork, human_id: UUID, changes: list[ConsentChange], *, policy_version: str,
                 source: str = "api", now: datetime | None = None) -> dict[str, Any]:
    """Grant or withdraw purposes, all in one transaction; a withdrawal applies from this moment on."""
    now = now or uow.clock.now()
    with uow:
        records = uow.consents.current(human_id, for_update=True)
        for item in changes:
            updated = consent.change(records.get(item.purpose), item.purpose, grant=item.granted,
                                     policy_version=policy_version, source=source, now=now)
            if updated is not None:
                uow.consents.save(human_id, updated)
        return _view(uow, human_id)


def holds(uow: UnitOfWork, human_id: UUID, purpose: consent.Purpose) -> bool:
    """Whether the human's consent for the purpose holds now (inside the caller's `with uow:`)."""
    return consent.holds(purpose, uow.consents.one(human_id, purpose))
