"""The audit of what operators did to agents and keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection


def record(conn: Connection, *, actor: str, action: str, subject_type: str, subject_id: str, reason: str,
           details: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO admin_actions (actor, action, subject_type, subject_id, reason, details, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (actor, action, subject_type, subject_id, reason, Jsonb(details), now),
    ).fetchone()
    assert row is not None
    return row


def of_subject(conn: Connection, subject_type: str, subject_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM admin_actions WHERE subject_type = %s AND subject_id = %s ORDER BY created_at DESC, id DESC"
        " LIMIT %s", (subject_type, subject_id, limit)).fetchall()
