"""Registrations (who created each identity, from which address, with which grant) and the locks that
make their limits hold under concurrency."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.db.pool import Connection


def lock_subjects(conn: Connection, *subjects: str) -> None:
    """Serialise registrations of the same address or owner until the transaction ends (sorted: no
    deadlock between two registrations sharing both)."""
    for subject in sorted(set(subjects)):
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 13))", (f"registration:{subject}",))


def recent_by_address(conn: Connection, fingerprint: str, since: datetime) -> list[datetime]:
    rows = conn.execute(
        "SELECT created_at FROM registrations WHERE address_fingerprint = %s AND created_at > %s",
        (fingerprint, since),
    ).fetchall()
    return [r["created_at"] for r in rows]


def recent_by_owner(conn: Connection, owner_id: UUID, since: datetime) -> list[datetime]:
    rows = conn.execute(
        "SELECT created_at FROM registrations WHERE owner_id = %s AND created_at > %s", (owner_id, since)
    ).fetchall()
    return [r["created_at"] for r in rows]


def grants_since(conn: Connection, owner_id: UUID, since: datetime) -> int:
    """Starter grants paid to identities of this owner registered after `since`."""
    row = conn.execute(
        "SELECT count(*) AS n FROM registrations WHERE owner_id = %s AND created_at > %s AND starter_grant > 0",
        (owner_id, since),
    ).fetchone()
    assert row is not None
    return int(row["n"])


def insert(conn: Connection, *, agent_id: UUID, owner_id: UUID, kind: str, address_fingerprint: str,
           registered_by: str, starter_grant: int, now: datetime) -> None:
    conn.execute(
        "INSERT INTO registrations (agent_id, owner_id, kind, address_fingerprint, registered_by, starter_grant,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (agent_id, owner_id, kind, address_fingerprint, registered_by, starter_grant, now),
    )


def of_agents(conn: Connection, agent_ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    rows = conn.execute("SELECT * FROM registrations WHERE agent_id = ANY(%s)", (agent_ids,)).fetchall()
    return {r["agent_id"]: r for r in rows}
