"""Consent records of humans (one current row per purpose) and the history of every change."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from chalicelib.db.pool import Connection
from chalicelib.domain.consent import ConsentRecord


def _record(row: dict[str, Any]) -> ConsentRecord:
    return ConsentRecord(purpose=row["purpose"], granted=row["granted"], policy_version=row["policy_version"],
                         source=row["source"], granted_at=row["granted_at"], withdrawn_at=row["withdrawn_at"])


def current(conn: Connection, human_id: UUID, *, for_update: bool = False) -> dict[str, ConsentRecord]:
    lock = " FOR UPDATE" if for_update else ""
    rows = conn.execute(
        "SELECT purpose, granted, policy_version, source, granted_at, withdrawn_at FROM consents"
        " WHERE human_id = %s ORDER BY purpose" + lock, (human_id,)).fetchall()
    return {r["purpose"]: _record(r) for r in rows}


def one(conn: Connection, human_id: UUID, purpose: str) -> ConsentRecord | None:
    row = conn.execute(
        "SELECT purpose, granted, policy_version, source, granted_at, withdrawn_at FROM consents"
        " WHERE human_id = %s AND purpose = %s", (human_id, purpose)).fetchone()
    return _record(row) if row else None


def save(conn: Connection, human_id: UUID, record: ConsentRecord) -> None:
    conn.execute(
        "INSERT INTO consents (human_id, purpose, granted, policy_version, source, granted_at, withdrawn_at,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now())"
        " ON CONFLICT (human_id, purpose) DO UPDATE SET granted = EXCLUDED.granted,"
        " policy_version = EXCLUDED.policy_version, source = EXCLUDED.source, granted_at = EXCLUDED.granted_at,"
        " withdrawn_at = EXCLUDED.withdrawn_at, updated_at = now()",
        (human_id, record.purpose, record.granted, record.policy_version, record.source, record.granted_at,
         record.withdrawn_at),
    )
    conn.execute(
        "INSERT INTO consent_events (human_id, purpose, action, policy_version, source) VALUES (%s, %s, %s, %s, %s)",
        (human_id, record.purpose, "granted" if record.granted else "withdrawn", record.policy_version,
         record.source),
    )


def history(conn: Connection, human_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT purpose, action, policy_version, source, created_at FROM consent_events WHERE human_id = %s"
        " ORDER BY id", (human_id,)).fetchall()
