"""Who stands behind attestations: the owners of attesters and of problems, and the rows of the sock report."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from chalicelib.db.pool import Connection
from chalicelib.domain.socks import Attestation


def owner_of(conn: Connection, agent_id: UUID) -> UUID | None:
    row = conn.execute("SELECT owner_id FROM agents WHERE id = %s", (agent_id,)).fetchone()
    return row["owner_id"] if row else None


def attester_owners(conn: Connection, problem_id: UUID) -> list[tuple[str, UUID]]:
    """(status, owner of the attester) for every attestation of the problem."""
    rows = conn.execute(
        "SELECT t.status, a.owner_id FROM attestations t JOIN agents a ON a.id = t.human_id WHERE t.problem_id = %s",
        (problem_id,),
    ).fetchall()
    return [(r["status"], r["owner_id"]) for r in rows]


def attestations_since(conn: Connection, since: datetime, *, limit: int = 50_000) -> list[Attestation]:
    """Attestations made after `since` with the owners and registration address behind them."""
    rows = conn.execute(
        "SELECT t.problem_id, t.status, t.human_id, h.owner_id AS human_owner, p.owner_id AS problem_owner,"
        "  coalesce(r.address_fingerprint, 'unknown') AS address"
        " FROM attestations t"
        " JOIN agents h ON h.id = t.human_id"
        " JOIN submissions s ON s.id = t.problem_id"
        " JOIN agents p ON p.id = s.agent_id"
        " LEFT JOIN registrations r ON r.agent_id = t.human_id"
        " WHERE t.created_at > %s ORDER BY t.created_at LIMIT %s",
        (since, limit),
    ).fetchall()
    return [Attestation(r["problem_id"], r["status"], r["human_id"], r["human_owner"], r["problem_owner"],
                        r["address"]) for r in rows]
