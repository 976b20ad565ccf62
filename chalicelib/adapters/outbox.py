"""The transactional outbox: enqueue inside the state change's transaction, relay after commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.config import get_settings
from chalicelib.db.pool import Connection
from chalicelib.domain.outbox import TOPICS, OutboxMessage
from chalicelib.observability import correlation_id as current_correlation_id


def enqueue(
    conn: Connection, topic: str, payload: dict[str, Any], *, correlation_id: str | None = None,
    delay_seconds: int = 0,
) -> int:
    """Add a message in the caller's transaction; it leaves only if that transaction commits.

    Without an explicit correlation id the message carries the one of the flow being served (the API
    request or the queue message this thread handles), so every stage of a flow logs the same id.
    """
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic}")
    if correlation_id is None:
        correlation_id = current_correlation_id()
    row = conn.execute(
        "INSERT INTO outbox (topic, payload, correlation_id, available_at)"
        " VALUES (%s, %s, %s, now() + make_interval(secs => %s)) RETURNING id",
        (topic, Jsonb(payload), correlation_id, delay_seconds),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def claim(conn: Connection, *, limit: int, ids: Sequence[int] | None = None,
          topic: str | None = None) -> list[OutboxMessage]:
    """Lease due unsent messages (or the given ids; of one topic when given) so that no other relay sends
    them meanwhile (concurrent claims skip each other's rows)."""
    id_filter = " AND id = ANY(%(ids)s)" if ids is not None else ""
    id_filter += " AND topic = %(topic)s" if topic is not None else ""
    rows = conn.execute(
        "WITH due AS ("
        "  SELECT id FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL AND available_at <= now()"
        + id_filter
        + "  ORDER BY available_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " UPDATE outbox o SET attempts = o.attempts + 1,"
        "   available_at = now() + make_interval(secs => %(lease)s)"
        " FROM due WHERE o.id = due.id"
        " RETURNING o.id, o.topic, o.payload, o.correlation_id, o.attempts",
        {"ids": list(ids) if ids is not None else None, "limit": limit,
         "lease": get_settings().outbox_lease_s, "topic": topic},
    ).fetchall()
    return [OutboxMessage(r["id"], r["topic"], r["payload"], r["correlation_id"], r["attempts"])
            for r in sorted(rows, key=lambda r: int(r["id"]))]


def mark_sent(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        conn.execute("UPDATE outbox SET sent_at = now(), last_error = NULL WHERE id = ANY(%s)", (list(ids),))


def mark_failed(conn: Connection, messages: Sequence[OutboxMessage], error: str) -> None:
    """Back off exponentially; the OUTBOX_MAX_ATTEMPTS-th failure parks a message as dead (the local DLQ)."""
    settings = get_settings()
    for m in messages:
        if m.attempts >= settings.outbox_max_attempts:
            conn.execute(
                "UPDATE outbox SET dead_at = now(), last_error = %s WHERE id = %s", (error[:500], m.id)
            )
        else:
            conn.execute(
                "UPDATE outbox SET available_at = now() + make_interval(secs => %s), last_error = %s"
                " WHERE id = %s",
                (settings.outbox_retry_base_s * 2 ** m.attempts, error[:500], m.id),
            )


def oldest_unsent_age_seconds(conn: Connection) -> float | None:
    row = conn.execute(
        "SELECT EXTRACT(EPOCH FROM now() - min(created_at)) AS age FROM outbox"
        " WHERE sent_at IS NULL AND dead_at IS NULL"
    ).fetchone()
    return float(row["age"]) if row and row["age"] is not None else None


def dead_since(conn: Connection, since: datetime) -> int:
    """How many messages were parked as dead after `since`."""
    row = conn.execute("SELECT count(*) AS n FROM outbox WHERE dead_at > %s", (since,)).fetchone()
    assert row is not None
    return int(row["n"])
