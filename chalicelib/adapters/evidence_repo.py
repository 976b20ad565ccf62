"""Photo evidence and before/after pairs in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection


def insert(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    columns = list(values)
    row = conn.execute(
        f"INSERT INTO evidence ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) RETURNING *",
        [values[c] for c in columns],
    ).fetchone()
    assert row is not None
    return row


def get(conn: Connection, evidence_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM evidence WHERE id = %s" + lock, (evidence_id,)).fetchone()


def live_in_pair(conn: Connection, pair_id: UUID) -> dict[str, dict[str, Any]]:
    """The pair's photos that are not rejected, by sequence (at most one before and one after)."""
    rows = conn.execute(
        "SELECT * FROM evidence WHERE pair_id = %s AND status <> 'rejected'", (pair_id,)
    ).fetchall()
    return {r["sequence"]: r for r in rows}


def claim(conn: Connection, evidence_id: UUID, *, token: UUID, now: datetime) -> None:
    """Mark the photo as being processed under `token` (only that token may finish it)."""
    conn.execute(
        "UPDATE evidence SET status = 'processing', processing_token = %s, processing_started_at = %s,"
        " attempts = attempts + 1, uploaded_at = COALESCE(uploaded_at, %s) WHERE id = %s",
        (token, now, now, evidence_id),
    )


def mark_uploaded(conn: Connection, evidence_id: UUID, now: datetime) -> bool:
    cur = conn.execute(
        "UPDATE evidence SET uploaded_at = %s WHERE id = %s AND status = 'quarantined' AND uploaded_at IS NULL",
        (now, evidence_id),
    )
    return cur.rowcount == 1


def mark_ready(conn: Connection, evidence_id: UUID, *, token: UUID, now: datetime, result: dict[str, Any]) -> bool:
    """Record the processed photo; False when the claim was lost (another worker took over)."""
    cur = conn.execute(
        "UPDATE evidence SET status = 'ready', processed_at = %(now)s, processed_key = %(key)s,"
        " processed_content_type = %(content_type)s, processed_bytes = %(bytes)s, width = %(width)s,"
        " height = %(height)s, sha256 = %(sha256)s, removed_metadata = %(removed)s,"
        " orientation_applied = %(orientation)s, blur_enabled = %(blur)s, faces_blurred = %(faces)s,"
        " plates_blurred = %(plates)s, coarse_latitude = %(lat)s, coarse_longitude = %(lng)s,"
        " recovered_truncated = %(recovered_truncated)s,"
        " rejection_code = NULL, rejection_message = NULL, processing_token = NULL"
        " WHERE id = %(id)s AND status = 'processing' AND processing_token = %(token)s",
        {**result, "removed": Jsonb(result["removed"]), "now": now, "id": evidence_id, "token": token,
         "recovered_truncated": bool(result.get("recovered_truncated", False))},
    )
    return cur.rowcount == 1


def mark_rejected(conn: Connection, evidence_id: UUID, *, token: UUID | None, code: str, message: str) -> bool:
    """Quarantine for good (until an admin retries); with a token, only if the claim still holds."""
    guard = " AND status = 'processing' AND processing_token = %s" if token is not None else ""
    params: list[Any] = [code, message[:500], evidence_id]
    if token is not None:
        params.append(token)
    cur = conn.execute(
        "UPDATE evidence SET status = 'rejected', rejection_code = %s, rejection_message = %s,"
        " processing_token = NULL WHERE id = %s" + guard,
        params,
    )
    return cur.rowcount == 1


def mark_original_deleted(conn: Connection, evidence_id: UUID, now: datetime) -> None:
    conn.execute(
        "UPDATE evidence SET original_deleted_at = %s WHERE id = %s AND original_deleted_at IS NULL",
        (now, evidence_id),
    )


def requeue(conn: Connection, evidence_id: UUID) -> None:
    """An admin retry: back to quarantine, one retry used, the stage's lease and requeue count anew."""
    conn.execute(
        "UPDATE evidence SET status = 'quarantined', retry_count = retry_count + 1, rejection_code = NULL,"
        " rejection_message = NULL, processing_token = NULL, processing_started_at = NULL,"
        " stage_requeues = 0, stage_requeued_at = now() WHERE id = %s",
        (evidence_id,),
    )


# --- photos the stage did not finish -------------------------------------------------------------

# When the stage's lease of a waiting or claimed photo started.
_LEASE_START = ("CASE WHEN status = 'processing' THEN processing_started_at"
                " ELSE coalesce(stage_requeued_at, uploaded_at) END")
_WAITING = ("(status = 'processing' OR (status = 'quarantined'"
            " AND coalesce(stage_requeued_at, uploaded_at) IS NOT NULL))")
_NO_PENDING_MESSAGE = (
    "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.topic = 'privacy' AND o.sent_at IS NULL AND o.dead_at IS NULL"
    " AND o.payload->>'evidence_id' = e.id::text)"
)


def late_photos(conn: Connection, *, cutoff: datetime, limit: int) -> list[dict[str, Any]]:
    """Photos whose lease started before `cutoff` and that no unsent message will bring to the stage:
    claimed by a worker that never finished, or waiting in quarantine after their message was lost.
    Locked for the caller; rows another sweep holds are skipped."""
    return conn.execute(
        f"SELECT e.*, {_LEASE_START} AS lease_started_at FROM evidence e"
        f" WHERE {_WAITING} AND {_LEASE_START} < %(cutoff)s AND (status = 'processing' OR {_NO_PENDING_MESSAGE})"
        f" ORDER BY {_LEASE_START}, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
        {"cutoff": cutoff, "limit": limit},
    ).fetchall()


def unannounced_uploads(conn: Connection, *, created_after: datetime, created_before: datetime,
                        limit: int) -> list[UUID]:
    """Photos registered in the window whose upload nobody has reported yet (S3 uploads directly; its
    notification may have been lost): the caller looks for their objects."""
    rows = conn.execute(
        "SELECT id FROM evidence WHERE status = 'quarantined' AND uploaded_at IS NULL AND stage_requeued_at IS NULL"
        " AND created_at > %s AND created_at < %s ORDER BY created_at, id LIMIT %s",
        (created_after, created_before, limit),
    ).fetchall()
    return [r["id"] for r in rows]


def requeue_late(conn: Connection, evidence_id: UUID, now: datetime) -> None:
    """Back to quarantine for another pass of the stage; a worker still holding the old claim loses it."""
    conn.execute(
        "UPDATE evidence SET status = 'quarantined', processing_token = NULL, processing_started_at = NULL,"
        " stage_requeues = stage_requeues + 1, stage_requeued_at = %s, uploaded_at = coalesce(uploaded_at, %s)"
        " WHERE id = %s AND status IN ('quarantined', 'processing')",
        (now, now, evidence_id),
    )


def late_summary(conn: Connection, *, cutoff: datetime, sample: int = 10) -> dict[str, Any]:
    """Photos still waiting for the stage whose lease started before `cutoff`: how many, since when,
    and a few ids (worker health and the late-photo alert)."""
    row = conn.execute(
        f"SELECT count(*) AS late, min({_LEASE_START}) AS oldest,"
        f" (array_agg(id ORDER BY {_LEASE_START}))[1:%(sample)s] AS ids"
        f" FROM evidence e WHERE {_WAITING} AND {_LEASE_START} < %(cutoff)s",
        {"cutoff": cutoff, "sample": sample},
    ).fetchone()
    assert row is not None
    return {"late": int(row["late"]), "oldest_lease_started_at": row["oldest"], "ids": list(row["ids"] or [])}


# --- pairs ---------------------------------------------------------------------------------------


def insert_pair(conn: Connection, *, pair_id: UUID, mission_id: UUID, human_id: UUID) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO evidence_pairs (id, mission_id, human_id) VALUES (%s, %s, %s) RETURNING *",
        (pair_id, mission_id, human_id),
    ).fetchone()
    assert row is not None
    return row


def get_pair(conn: Connection, pair_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM evidence_pairs WHERE id = %s" + lock, (pair_id,)).fetchone()


def pair_photos(conn: Connection, pair_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM evidence WHERE pair_id = %s ORDER BY created_at, id", (pair_id,)
    ).fetchall()


def start_verification(conn: Connection, pair_id: UUID) -> bool:
    cur = conn.execute(
        "UPDATE evidence_pairs SET status = 'verifying' WHERE id = %s AND status = 'open'", (pair_id,)
    )
    return cur.rowcount == 1


def decide_pair(conn: Connection, pair_id: UUID, *, status: str, verification: dict[str, Any],
                now: datetime) -> bool:
    cur = conn.execute(
        "UPDATE evidence_pairs SET status = %s, improvement = %s, confidence = %s, reasoning = %s,"
        " verifier = %s, verification = %s, decided_at = %s WHERE id = %s AND status = 'verifying'",
        (status, verification.get("improvement"), verification.get("confidence"), verification.get("reasoning"),
         verification.get("verifier"), Jsonb(verification), now, pair_id),
    )
    return cur.rowcount == 1


def message_seen(conn: Connection, consumer: str, message_key: str) -> bool:
    """Whether a consumer already recorded this message (a read; recording is first_delivery's)."""
    row = conn.execute(
        "SELECT 1 FROM processed_messages WHERE consumer = %s AND message_key = %s", (consumer, message_key)
    ).fetchone()
    return row is not None
