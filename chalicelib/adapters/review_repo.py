"""The human review queue (Layer C) in PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection


def enqueue(
    conn: Connection,
    *,
    subject_type: str,
    subject_id: UUID,
    source: str,
    reason: str,
    details: dict[str, Any] | None = None,
    priority: int = 0,
    dedup_key: str | None = None,
) -> UUID | None:
    """Queue an item for human review in the caller's transaction.

    With a dedup_key the same cause is queued once (a redelivered message queues nothing new);
    returns the new item's id, or None when it was already queued.
    """
    row = conn.execute(
        "INSERT INTO review_items (subject_type, subject_id, source, reason, details, priority, dedup_key)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        (subject_type, subject_id, source, reason, Jsonb(details or {}), priority, dedup_key),
    ).fetchone()
    return row["id"] if row else None


def get(conn: Connection, item_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM review_items WHERE id = %s" + lock, (item_id,)).fetchone()


def for_subject(conn: Connection, subject_type: str, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM review_items WHERE subject_type = %s AND subject_id = %s ORDER BY created_at, id",
        (subject_type, subject_id),
    ).fetchall()
