"""Submissions and their decision trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection


def insert(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    columns = list(values)
    row = conn.execute(
        f"INSERT INTO submissions ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        " RETURNING *",
        [values[c] for c in columns],
    ).fetchone()
    assert row is not None
    return row


def insert_screened(
    conn: Connection, values: dict[str, Any], stage: str, verdict: dict[str, Any]
) -> dict[str, Any] | None:
    """Insert a submission and its first trail entry in one statement (one round trip); None, writing
    nothing, when the agent's Idempotency-Key is already taken (the unique key decides, also between
    concurrent retries)."""
    columns = list(values)
    row = conn.execute(
        f"WITH s AS (INSERT INTO submissions ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        "  ON CONFLICT (agent_id, idempotency_key) DO NOTHING RETURNING *),"
        " t AS (INSERT INTO decision_trail (submission_id, stage, verdict) SELECT s.id, %s, %s FROM s)"
        " SELECT * FROM s",
        [*(values[c] for c in columns), stage, Jsonb(verdict)],
    ).fetchone()
    return row


def get(conn: Connection, submission_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM submissions WHERE id = %s" + lock, (submission_id,)).fetchone()


def get_with_stage(conn: Connection, submission_id: UUID, stage: str, *, for_update: bool = False
                   ) -> dict[str, Any] | None:
    """The submission with ``has_stage``: whether its trail holds an entry of ``stage`` (one statement)."""
    lock = " FOR UPDATE OF s" if for_update else ""
    return conn.execute(
        "SELECT s.*, EXISTS (SELECT 1 FROM decision_trail t WHERE t.submission_id = s.id AND t.stage = %s)"
        " AS has_stage FROM submissions s WHERE s.id = %s" + lock,
        (stage, submission_id),
    ).fetchone()


def find_by_idempotency_key(conn: Connection, agent_id: UUID, key: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM submissions WHERE agent_id = %s AND idempotency_key = %s", (agent_id, key)
    ).fetchone()


def add_trail(conn: Connection, submission_id: UUID, stage: str, verdict: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO decision_trail (submission_id, stage, verdict) VALUES (%s, %s, %s)",
        (submission_id, stage, Jsonb(verdict)),
    )


def add_trails(conn: Connection, submission_id: UUID, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Several (stage, verdict) trail entries in one statement, in the order given."""
    conn.execute(
        "INSERT INTO decision_trail (submission_id, stage, verdict)"
        " SELECT %s, t.stage, t.verdict FROM unnest(%s::text[], %s::jsonb[]) WITH ORDINALITY AS t(stage, verdict, n)"
        " ORDER BY t.n",
        (submission_id, [stage for stage, _ in entries], [Jsonb(v) for _, v in entries]),
    )


def trail(conn: Connection, submission_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT stage, verdict, created_at FROM decision_trail WHERE submission_id = %s ORDER BY id",
        (submission_id,),
    ).fetchall()


def decide(
    conn: Connection, submission_id: UUID, *, status: str, decided_by: str, now: datetime,
    route_path: str | None = None,
) -> bool:
    """Move a pending submission to a terminal status; False if it was no longer pending."""
    cur = conn.execute(
        "UPDATE submissions SET status = %s, decided_by = %s, decided_at = %s,"
        " route_path = COALESCE(%s, route_path)"
        " WHERE id = %s AND status = 'pending'",
        (status, decided_by, now, route_path, submission_id),
    )
    return cur.rowcount == 1


def list_for_agent(
    conn: Connection, agent_id: UUID, *, limit: int, before: tuple[datetime, str] | None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first, keyset-paged on (created_at, id)."""
    params: list[Any] = [agent_id]
    where = "agent_id = %s"
    if status is not None:
        where += " AND status = %s"
        params.append(status)
    if before is not None:
        where += " AND (created_at, id) < (%s, %s::uuid)"
        params += [before[0], before[1]]
    params.append(limit)
    return conn.execute(
        "SELECT * FROM submissions WHERE " + where + " ORDER BY created_at DESC, id DESC LIMIT %s", params
    ).fetchall()


def decide_open(conn: Connection, submission_id: UUID, *, status: str, decided_by: str, now: datetime) -> bool:
    """Decide a submission still pending or flagged (a reviewer's verdict); False if it was final."""
    cur = conn.execute(
        "UPDATE submissions SET status = %s, decided_by = %s, decided_at = %s"
        " WHERE id = %s AND status IN ('pending', 'flagged')",
        (status, decided_by, now, submission_id),
    )
    return cur.rowcount == 1


def set_cost(conn: Connection, submission_id: UUID, cost_millicredits: int) -> None:
    conn.execute("UPDATE submissions SET cost_millicredits = %s WHERE id = %s", (cost_millicredits, submission_id))


def route_to_peers(conn: Connection, submission_id: UUID) -> None:
    """Mark a still pending submission as waiting for its peers."""
    conn.execute("UPDATE submissions SET route_path = 'peer' WHERE id = %s AND status = 'pending'", (submission_id,))


def count_approval(conn: Connection, submission_id: UUID) -> None:
    """One more approval for the submission's agent (its trust)."""
    conn.execute(
        "UPDATE agents SET approvals_count = approvals_count + 1"
        " WHERE id = (SELECT agent_id FROM submissions WHERE id = %s)",
        (submission_id,),
    )
