"""Export jobs in PostgreSQL: the request, the checkpoint of its multipart upload, its end."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection

_UNFINISHED = ("queued", "running")


def lock_requester(conn: Connection, requested_by: UUID) -> None:
    """Serialise job creation per admin key until the transaction ends (the cap counts, then inserts)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"export_jobs:{requested_by}",))


def unfinished_for(conn: Connection, requested_by: UUID) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM export_jobs WHERE requested_by = %s AND status = ANY(%s)",
                        (requested_by, list(_UNFINISHED))).fetchall()


def touch(conn: Connection, job_id: UUID, *, now: datetime) -> None:
    conn.execute("UPDATE export_jobs SET updated_at = %s WHERE id = %s", (now, job_id))


def create(conn: Connection, *, job_id: UUID, requested_by: UUID, kind: str, filter: dict[str, Any], fmt: str,
           as_of: datetime, estimated_rows: int, estimated_bytes: int, object_key: str,
           expires_at: datetime, now: datetime) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO export_jobs (id, requested_by, kind, filter, format, status, as_of, estimated_rows,"
        " estimated_bytes, object_key, created_at, updated_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, 'queued', %s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (job_id, requested_by, kind, Jsonb(filter), fmt, as_of, estimated_rows, estimated_bytes, object_key,
         now, now, expires_at),
    ).fetchone()
    assert row is not None
    return row


def get(conn: Connection, job_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute(f"SELECT * FROM export_jobs WHERE id = %s{lock}", (job_id,)).fetchone()


def claim(conn: Connection, job_id: UUID, *, crashed: bool, now: datetime) -> dict[str, Any]:
    """A run begins: running, with its run open until it ends cleanly; a run found open (the last one
    died without a word) counts as a failed attempt."""
    row = conn.execute(
        "UPDATE export_jobs SET status = 'running', run_open = true, started_at = COALESCE(started_at, %s),"
        " updated_at = %s, attempts = attempts + CASE WHEN %s THEN 1 ELSE 0 END,"
        " error = CASE WHEN %s THEN 'a run stopped without finishing' ELSE error END"
        " WHERE id = %s RETURNING *",
        (now, now, crashed, crashed, job_id),
    ).fetchone()
    assert row is not None
    return row


def begin_upload(conn: Connection, job_id: UUID, *, upload_id: str, now: datetime) -> None:
    conn.execute("UPDATE export_jobs SET upload_id = %s, updated_at = %s WHERE id = %s", (upload_id, now, job_id))


def checkpoint(conn: Connection, job_id: UUID, *, part: dict[str, Any], cursor: list[Any] | None, rows: int,
               bytes_: int, last: bool, now: datetime) -> None:
    """A part is in S3: record it, the key of its last row and the totals (nothing if a duplicate run
    already recorded that part number); ``last`` when no part follows."""
    conn.execute(
        "UPDATE export_jobs SET parts = parts || %s, cursor = %s, rows = %s, bytes = %s, all_parts = %s,"
        " updated_at = %s WHERE id = %s AND jsonb_array_length(parts) = %s",
        (Jsonb([part]), Jsonb(cursor), rows, bytes_, last, now, job_id, int(part["PartNumber"]) - 1),
    )


def release(conn: Connection, job_id: UUID, *, now: datetime) -> None:
    """The run ends cleanly without finishing (it queued the job again)."""
    conn.execute("UPDATE export_jobs SET run_open = false, updated_at = %s WHERE id = %s", (now, job_id))


def succeed(conn: Connection, job_id: UUID, *, rows: int, bytes_: int, expires_at: datetime,
            now: datetime) -> None:
    conn.execute(
        "UPDATE export_jobs SET status = 'succeeded', run_open = false, rows = %s, bytes = %s, error = NULL,"
        " finished_at = %s, updated_at = %s, expires_at = %s WHERE id = %s",
        (rows, bytes_, now, now, expires_at, job_id),
    )


def record_failure(conn: Connection, job_id: UUID, *, error: str, final: bool, now: datetime) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE export_jobs SET attempts = attempts + 1, run_open = false, error = %s, updated_at = %s,"
        " status = CASE WHEN %s THEN 'failed' ELSE status END,"
        " finished_at = CASE WHEN %s THEN %s ELSE finished_at END WHERE id = %s RETURNING *",
        (error[:500], now, final, final, now, job_id),
    ).fetchone()
    assert row is not None
    return row


def fail(conn: Connection, job_id: UUID, *, error: str, now: datetime) -> None:
    """The job is given up (its attempts are spent)."""
    conn.execute(
        "UPDATE export_jobs SET status = 'failed', run_open = false, error = %s, finished_at = %s,"
        " updated_at = %s WHERE id = %s",
        (error[:500], now, now, job_id),
    )


def list_for(conn: Connection, requested_by: UUID, *, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM export_jobs WHERE requested_by = %s ORDER BY created_at DESC, id DESC LIMIT %s",
        (requested_by, limit),
    ).fetchall()
