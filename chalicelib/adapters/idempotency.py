"""Exactly-once effects of at-least-once messages."""

from __future__ import annotations

from chalicelib.db.pool import Connection


def first_delivery(conn: Connection, consumer: str, message_key: str) -> bool:
    """Record the message in the caller's transaction; False if it was processed before.

    A concurrent duplicate blocks on the unique key until the first transaction ends, then sees it.
    """
    row = conn.execute(
        "INSERT INTO processed_messages (consumer, message_key) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        (consumer, message_key),
    ).fetchone()
    return row is not None
