"""Data-subject requests: filing, approval, progress and outcome, the export files they leave, the
privacy audit log, and the subject they are about."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=lambda obj: json.dumps(obj, default=str))


# --- requests -------------------------------------------------------------------------------------


def insert_request(
    conn: Connection, *, request_id: UUID, type_: str, subject_id: UUID, subject_kind: str, requested_by: str,
    on_behalf: bool, reason: str | None, approval_required: bool,
) -> dict[str, Any] | None:
    """The new request, or None when the subject already has an open one of that type."""
    return conn.execute(
        "INSERT INTO privacy_requests (id, type, subject_id, subject_kind, requested_by, on_behalf, reason,"
        " approval_required) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (subject_id, type) WHERE status IN ('pending', 'processing') DO NOTHING RETURNING *",
        (request_id, type_, subject_id, subject_kind, requested_by, on_behalf, reason, approval_required),
    ).fetchone()


def filed_since(conn: Connection, subject_id: UUID, type_: str, since: datetime) -> list[datetime]:
    """When the subject's requests of this type filed by the subject themselves (not on their behalf) were made."""
    return [r["created_at"] for r in conn.execute(
        "SELECT created_at FROM privacy_requests WHERE subject_id = %s AND type = %s AND NOT on_behalf"
        " AND created_at > %s", (subject_id, type_, since)).fetchall()]


def get_request(conn: Connection, request_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM privacy_requests WHERE id = %s" + lock, (request_id,)).fetchone()


def list_requests(
    conn: Connection, *, type_: str | None, status: str | None, subject_id: UUID | None,
    awaiting_approval: bool | None, after: tuple[datetime, UUID] | None, limit: int,
) -> list[dict[str, Any]]:
    where = ["TRUE"]
    params: list[Any] = []
    if type_ is not None:
        where.append("type = %s")
        params.append(type_)
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if subject_id is not None:
        where.append("subject_id = %s")
        params.append(subject_id)
    if awaiting_approval is not None:
        where.append("(approval_required AND approved_at IS NULL AND status = 'pending') = %s")
        params.append(awaiting_approval)
    if after is not None:
        where.append("(created_at, id) > (%s, %s)")
        params.extend(after)
    params.append(limit)
    return conn.execute(
        "SELECT * FROM privacy_requests WHERE " + " AND ".join(where) + " ORDER BY created_at, id LIMIT %s",
        params,
    ).fetchall()


def approve(conn: Connection, request_id: UUID, *, actor: str, reason: str, now: datetime) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE privacy_requests SET approved_by = %s, approved_at = %s, approval_reason = %s, updated_at = %s"
        " WHERE id = %s RETURNING *",
        (actor, now, reason, now, request_id),
    ).fetchone()
    assert row is not None
    return row


def start(conn: Connection, request_id: UUID, now: datetime) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE privacy_requests SET status = 'processing', attempts = attempts + 1,"
        " started_at = COALESCE(started_at, %s), updated_at = %s, error = NULL WHERE id = %s RETURNING *",
        (now, now, request_id),
    ).fetchone()
    assert row is not None
    return row


def set_tombstone(conn: Connection, request_id: UUID, tombstone_id: UUID) -> None:
    conn.execute("UPDATE privacy_requests SET tombstone_id = %s WHERE id = %s", (tombstone_id, request_id))


def save_progress(conn: Connection, request_id: UUID, *, progress: int, step: str, state: dict[str, Any],
                  now: datetime) -> None:
    conn.execute(
        "UPDATE privacy_requests SET progress = %s, step = %s, state = %s, updated_at = %s WHERE id = %s",
        (progress, step, _jsonb(state), now, request_id),
    )


def complete(conn: Connection, request_id: UUID, *, result: dict[str, Any], state: dict[str, Any], now: datetime,
             export_key: str | None = None, export_bytes: int | None = None,
             export_expires_at: datetime | None = None) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE privacy_requests SET status = 'completed', progress = 100, step = 'done', result = %s, state = %s,"
        " finished_at = %s, updated_at = %s, export_key = COALESCE(%s, export_key),"
        " export_bytes = COALESCE(%s, export_bytes), export_expires_at = COALESCE(%s, export_expires_at)"
        " WHERE id = %s RETURNING *",
        (_jsonb(result), _jsonb(state), now, now, export_key, export_bytes, export_expires_at, request_id),
    ).fetchone()
    assert row is not None
    return row


def record_failure(conn: Connection, request_id: UUID, *, error: str, final: bool, now: datetime) -> None:
    conn.execute(
        "UPDATE privacy_requests SET error = %s, updated_at = %s,"
        " status = CASE WHEN %s THEN 'failed' ELSE status END,"
        " finished_at = CASE WHEN %s THEN %s ELSE finished_at END WHERE id = %s",
        (error[:500], now, final, final, now, request_id),
    )


def expired_exports(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, subject_id, export_key FROM privacy_requests WHERE export_key IS NOT NULL"
        " AND export_deleted_at IS NULL AND export_expires_at <= %s ORDER BY export_expires_at LIMIT %s"
        " FOR UPDATE SKIP LOCKED",
        (now, limit),
    ).fetchall()


def count_expired_exports(conn: Connection, now: datetime) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM privacy_requests WHERE export_key IS NOT NULL AND export_deleted_at IS NULL"
        " AND export_expires_at <= %s", (now,),
    ).fetchone()
    return int(row["n"]) if row else 0


def mark_export_deleted(conn: Connection, request_ids: Sequence[UUID], now: datetime) -> None:
    conn.execute("UPDATE privacy_requests SET export_deleted_at = %s, updated_at = %s WHERE id = ANY(%s)",
                 (now, now, list(request_ids)))


def subject_exports(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, export_key FROM privacy_requests WHERE subject_id = %s AND export_key IS NOT NULL"
        " AND export_deleted_at IS NULL", (subject_id,),
    ).fetchall()


# --- audit ----------------------------------------------------------------------------------------


def audit(conn: Connection, *, action: str, actor: str, request_id: UUID | None = None,
          subject_id: UUID | None = None, details: dict[str, Any] | None = None,
          now: datetime | None = None) -> None:
    conn.execute(
        "INSERT INTO privacy_audit_log (request_id, subject_id, action, actor, details, created_at)"
        " VALUES (%s, %s, %s, %s, %s, COALESCE(%s, now()))",
        (request_id, subject_id, action, actor, _jsonb(details or {}), now),
    )


def audit_entries(
    conn: Connection, *, request_id: UUID | None, subject_id: UUID | None, action: str | None,
    after: tuple[datetime, int] | None, limit: int,
) -> list[dict[str, Any]]:
    where = ["TRUE"]
    params: list[Any] = []
    for column, value in (("request_id", request_id), ("subject_id", subject_id), ("action", action)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if after is not None:
        where.append("(created_at, id) > (%s, %s)")
        params.extend(after)
    params.append(limit)
    return conn.execute(
        "SELECT * FROM privacy_audit_log WHERE " + " AND ".join(where) + " ORDER BY created_at, id LIMIT %s",
        params,
    ).fetchall()


# --- the subject ----------------------------------------------------------------------------------


def get_subject(conn: Connection, subject_id: UUID, *, share_lock: bool = False) -> dict[str, Any] | None:
    lock = " FOR SHARE" if share_lock else ""
    return conn.execute(
        "SELECT id, kind, name, owner_id, status FROM agents WHERE id = %s" + lock, (subject_id,)
    ).fetchone()


def subject_keys(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, prefix, role, label, created_at, last_used_at, revoked_at FROM api_keys"
        " WHERE agent_id = %s ORDER BY created_at, id", (subject_id,),
    ).fetchall()


def owner_is_exclusive(conn: Connection, subject_id: UUID, owner_id: UUID) -> bool:
    row = conn.execute("SELECT count(*) AS n FROM agents WHERE owner_id = %s AND id <> %s",
                       (owner_id, subject_id)).fetchone()
    return row is not None and int(row["n"]) == 0
