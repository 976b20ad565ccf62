"""Reachability of the database, for the health route."""

from __future__ import annotations

from chalicelib.db.pool import Connection


def ping(conn: Connection) -> None:
    """A round trip to the database; raises when it cannot be made."""
    conn.execute("SELECT 1")
