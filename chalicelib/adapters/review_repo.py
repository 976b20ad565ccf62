"""The human review queue (Layer C) in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
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


# Sort orders of the queue: the ORDER BY and the keyset comparison that pages it.
_SORTS = {
    "oldest": ("created_at, id", "(created_at, id) > (%s, %s::uuid)"),
    "newest": ("created_at DESC, id DESC", "(created_at, id) < (%s, %s::uuid)"),
    "priority": ("priority DESC, created_at, id", "(-priority, created_at, id) > (%s, %s, %s::uuid)"),
}


def list_items(
    conn: Connection,
    *,
    status: str | None,
    subject_type: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
    subject_id: UUID | None = None,
    agent_id: UUID | None = None,
    source: str | None = None,
    sort: str = "oldest",
    after_priority: int | None = None,
) -> list[dict[str, Any]]:
    """One page of the queue, filtered, in the ``sort`` order, keyset-paged after ``after``.

    ``oldest`` (arrival order, the default) and ``newest`` page on (created_at, id); ``priority``
    pages on (priority descending, created_at, id) and needs ``after_priority`` with ``after``.
    ``agent_id`` selects items about that agent: the agent itself, or its submissions and problems.
    """
    order, keyset = _SORTS[sort]
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    for column, value in (("status", status), ("subject_type", subject_type), ("subject_id", subject_id),
                          ("source", source)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if agent_id is not None:
        where.append("((subject_type = 'agent' AND subject_id = %s) OR (subject_type IN ('submission', 'problem')"
                     " AND subject_id IN (SELECT id FROM submissions WHERE agent_id = %s)))")
        params += [agent_id, agent_id]
    if after is not None:
        where.append(keyset)
        if sort == "priority":
            assert after_priority is not None
            params.append(-after_priority)
        params += [after[0], after[1]]
    return conn.execute(
        "SELECT * FROM review_items WHERE " + " AND ".join(where) + f" ORDER BY {order} LIMIT %s",
        [*params, limit],
    ).fetchall()


def update_item(conn: Connection, item_id: UUID, values: dict[str, Any]) -> dict[str, Any]:
    """Write the columns a transition changes (the service has checked the transition)."""
    allowed = {"status", "claimed_by", "claimed_at", "resolution", "notes", "resolved_by", "resolved_at", "priority"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    columns = list(values)
    row = conn.execute(
        "UPDATE review_items SET " + ", ".join(f"{c} = %s" for c in columns) + " WHERE id = %s RETURNING *",
        [*(values[c] for c in columns), item_id],
    ).fetchone()
    assert row is not None
    return row


def add_event(
    conn: Connection, item_id: UUID, *, action: str, from_status: str, to_status: str, actor: str,
    notes: str | None, details: dict[str, Any] | None = None, now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO review_item_events (item_id, action, from_status, to_status, actor, notes, details,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (item_id, action, from_status, to_status, actor, notes, Jsonb(details or {}), now),
    )


def events(conn: Connection, item_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT action, from_status, to_status, actor, notes, details, created_at FROM review_item_events"
        " WHERE item_id = %s ORDER BY id",
        (item_id,),
    ).fetchall()
