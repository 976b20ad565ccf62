"""The SQL of retention: count and handle, in bounded batches, what is past its period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.db.pool import Connection
from chalicelib.domain.privacy import ERASED_TEXT

# Per kind: how to count what is due, and which rows one batch takes (locked, skipped if busy).
_DUE: dict[str, str] = {
    "rejected_submissions": "FROM submissions WHERE status = 'rejected' AND decided_at < %(cutoff)s"
                            " AND title <> '" + ERASED_TEXT + "'",
    "rate_limit_windows": "FROM rate_limit_windows WHERE window_start < %(cutoff)s",
    "registration_addresses": "FROM registrations WHERE created_at < %(cutoff)s"
                              " AND address_fingerprint NOT IN ('unknown', 'internal')",
    "processed_evidence": "FROM evidence WHERE created_at < %(cutoff)s",
    "quarantine_leftovers": "FROM evidence WHERE status <> 'ready' AND original_deleted_at IS NULL"
                            " AND created_at < %(cutoff)s",
    "attestations": "FROM attestations WHERE created_at < %(cutoff)s",
    "alert_history": "FROM alerts WHERE status = 'resolved' AND resolved_at < %(cutoff)s",
}
_IDEMPOTENCY: tuple[str, ...] = (
    "FROM processed_messages WHERE processed_at < %(cutoff)s",
    "FROM outbox WHERE (sent_at < %(cutoff)s OR dead_at < %(cutoff)s)",
    "FROM submissions WHERE created_at < %(cutoff)s AND (idempotency_key IS NOT NULL OR request_hash IS NOT NULL)",
)


def count_due(conn: Connection, kind: str, cutoff: datetime) -> int:
    clauses = _IDEMPOTENCY if kind == "idempotency_records" else (_DUE[kind],)
    total = 0
    for clause in clauses:
        row = conn.execute("SELECT count(*) AS n " + clause, {"cutoff": cutoff}).fetchone()
        total += int(row["n"]) if row else 0
    return total


def rejected_submissions(conn: Connection, cutoff: datetime, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, kind, title, body, domain " + _DUE["rejected_submissions"]
        + " ORDER BY decided_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
        {"cutoff": cutoff, "limit": limit},
    ).fetchall()


def delete_rate_limit_windows(conn: Connection, cutoff: datetime, limit: int) -> int:
    return conn.execute(
        "DELETE FROM rate_limit_windows WHERE ctid IN (SELECT ctid " + _DUE["rate_limit_windows"]
        + " LIMIT %(limit)s FOR UPDATE SKIP LOCKED)", {"cutoff": cutoff, "limit": limit},
    ).rowcount


def delete_idempotency_records(conn: Connection, cutoff: datetime, limit: int) -> int:
    args = {"cutoff": cutoff, "limit": limit}
    n = conn.execute(
        "DELETE FROM processed_messages WHERE ctid IN (SELECT ctid " + _IDEMPOTENCY[0]
        + " LIMIT %(limit)s FOR UPDATE SKIP LOCKED)", args).rowcount
    n += conn.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id " + _IDEMPOTENCY[1]
        + " LIMIT %(limit)s FOR UPDATE SKIP LOCKED)", args).rowcount
    n += conn.execute(
        "UPDATE submissions SET idempotency_key = NULL, request_hash = NULL WHERE id IN (SELECT id "
        + _IDEMPOTENCY[2] + " LIMIT %(limit)s FOR UPDATE SKIP LOCKED)", args).rowcount
    return n


def evidence_due(conn: Connection, kind: str, cutoff: datetime, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, processed_key " + _DUE[kind] + " ORDER BY created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
        {"cutoff": cutoff, "limit": limit},
    ).fetchall()


def delete_evidence(conn: Connection, ids: list[Any]) -> int:
    conn.execute(
        "UPDATE review_items SET details = '{}'::jsonb, notes = NULL WHERE subject_type = 'evidence'"
        " AND subject_id = ANY(%s)", (ids,))
    return conn.execute("DELETE FROM evidence WHERE id = ANY(%s)", (ids,)).rowcount


def mark_originals_deleted(conn: Connection, ids: list[Any], now: datetime) -> int:
    return conn.execute("UPDATE evidence SET original_deleted_at = %s WHERE id = ANY(%s)", (now, ids)).rowcount


def forget_registration_addresses(conn: Connection, cutoff: datetime, limit: int) -> int:
    return conn.execute(
        "UPDATE registrations SET address_fingerprint = 'unknown' WHERE agent_id IN (SELECT agent_id "
        + _DUE["registration_addresses"] + " LIMIT %(limit)s FOR UPDATE SKIP LOCKED)",
        {"cutoff": cutoff, "limit": limit},
    ).rowcount


def delete_attestations(conn: Connection, cutoff: datetime, limit: int) -> int:
    return conn.execute(
        "DELETE FROM attestations WHERE id IN (SELECT id " + _DUE["attestations"]
        + " LIMIT %(limit)s FOR UPDATE SKIP LOCKED)", {"cutoff": cutoff, "limit": limit},
    ).rowcount


def delete_alerts(conn: Connection, cutoff: datetime, limit: int) -> int:
    ids = [r["id"] for r in conn.execute(
        "SELECT id " + _DUE["alert_history"] + " LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
        {"cutoff": cutoff, "limit": limit}).fetchall()]
    if not ids:
        return 0
    conn.execute("DELETE FROM alert_notifications WHERE alert_id = ANY(%s)", (ids,))
    return conn.execute("DELETE FROM alerts WHERE id = ANY(%s)", (ids,)).rowcount


def recent_runs(conn: Connection, job: str, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, started_at, finished_at, ok, error, result, duration_ms FROM job_runs WHERE job = %s"
        " AND finished_at IS NOT NULL ORDER BY started_at DESC LIMIT %s", (job, limit),
    ).fetchall()
