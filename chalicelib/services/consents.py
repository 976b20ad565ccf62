"""Use cases of consent: a human reads and changes their consents; the stages ask whether one holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chalicelib.adapters import consents_repo
from chalicelib.db.pool import Connection, transaction
from chalicelib.domain import consent


@dataclass(frozen=True)
class ConsentChange:
    purpose: consent.Purpose
    granted: bool


def _view(human_id: UUID, conn: Connection) -> dict[str, Any]:
    records = consents_repo.current(conn, human_id)
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
            "history": consents_repo.history(conn, human_id)}


def get_consents(human_id: UUID) -> dict[str, Any]:
    """Every purpose with what holds now (the human's answer or the default) and the history."""
    with transaction() as conn:
        return _view(human_id, conn)


def set_consents(human_id: UUID, changes: list[ConsentChange], *, policy_version: str, source: str = "api",
                 now: datetime | None = None) -> dict[str, Any]:
    """Grant or withdraw purposes, all in one transaction; a withdrawal applies from this moment on."""
    now = now or datetime.now(UTC)
    with transaction() as conn:
        records = consents_repo.current(conn, human_id, for_update=True)
        for item in changes:
            updated = consent.change(records.get(item.purpose), item.purpose, grant=item.granted,
                                     policy_version=policy_version, source=source, now=now)
            if updated is not None:
                consents_repo.save(conn, human_id, updated)
        return _view(human_id, conn)


def holds(conn: Connection, human_id: UUID, purpose: consent.Purpose) -> bool:
    """Whether the human's consent for the purpose holds now (read in the caller's transaction)."""
    return consent.holds(purpose, consents_repo.one(conn, human_id, purpose))
