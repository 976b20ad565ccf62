"""Agents (AI agents and humans) and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.db.pool import Connection


def insert_agent(
    conn: Connection, *, agent_id: UUID, kind: str, name: str, description: str, owner_id: UUID
) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO agents (id, kind, name, description, owner_id) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING *",
        (agent_id, kind, name, description, owner_id),
    ).fetchone()
    assert row is not None
    return row


def get_agent(conn: Connection, agent_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM agents WHERE id = %s" + lock, (agent_id,)).fetchone()


def insert_key(
    conn: Connection, *, key_id: UUID, prefix: str, key_hash: bytes, role: str, agent_id: UUID | None,
    label: str = "",
) -> None:
    conn.execute(
        "INSERT INTO api_keys (id, prefix, key_hash, role, agent_id, label) VALUES (%s, %s, %s, %s, %s, %s)",
        (key_id, prefix, key_hash, role, agent_id, label),
    )


def find_key(conn: Connection, prefix: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT k.id, k.key_hash, k.role, k.agent_id, k.revoked_at, a.owner_id, a.kind AS agent_kind,"
        " a.status AS agent_status"
        " FROM api_keys k LEFT JOIN agents a ON a.id = k.agent_id WHERE k.prefix = %s",
        (prefix,),
    ).fetchone()


def touch_key(conn: Connection, key_id: UUID, now: datetime) -> None:
    # Coarse (once a minute) so that authentication does not write on every request.
    conn.execute(
        "UPDATE api_keys SET last_used_at = %s WHERE id = %s"
        " AND (last_used_at IS NULL OR last_used_at < %s - interval '1 minute')",
        (now, key_id, now),
    )


def revoke_key(conn: Connection, key_id: UUID) -> bool:
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (key_id,)
    )
    return cur.rowcount == 1


def revoke_agent_keys(conn: Connection, agent_id: UUID) -> int:
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE agent_id = %s AND revoked_at IS NULL", (agent_id,)
    )
    return cur.rowcount


def add_approval(conn: Connection, agent_id: UUID) -> None:
    """One more approved submission towards the agent's trust tier."""
    conn.execute("UPDATE agents SET approvals_count = approvals_count + 1 WHERE id = %s", (agent_id,))


def set_suspended(conn: Connection, agent_id: UUID, *, suspended: bool, reason: str | None, now: datetime) -> bool:
    """Suspend an active agent or reactivate a suspended one; False when it was not in the state to change."""
    if suspended:
        cur = conn.execute(
            "UPDATE agents SET status = 'suspended', suspended_at = %s, suspension_reason = %s"
            " WHERE id = %s AND status = 'active'", (now, reason, agent_id))
    else:
        cur = conn.execute(
            "UPDATE agents SET status = 'active', suspended_at = NULL, suspension_reason = NULL"
            " WHERE id = %s AND status = 'suspended'", (agent_id,))
    return cur.rowcount == 1


def key_by_prefix(conn: Connection, prefix: str, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute(
        "SELECT id, prefix, role, agent_id, label, created_at, revoked_at, last_used_at FROM api_keys"
        " WHERE prefix = %s" + lock, (prefix,)).fetchone()


def keys_of(conn: Connection, agent_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, prefix, role, agent_id, label, created_at, revoked_at, last_used_at FROM api_keys"
        " WHERE agent_id = %s ORDER BY created_at, id", (agent_id,)).fetchall()
