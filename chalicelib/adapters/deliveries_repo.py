"""Partner delivery schedules and runs in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection

SCHEDULE_FIELDS = ("partner", "target_kind", "target", "filter", "format", "cron", "active", "secret")
IN_FLIGHT = ("queued", "running", "retrying")


def _params(values: dict[str, Any]) -> dict[str, Any]:
    params = {f: values[f] for f in SCHEDULE_FIELDS}
    params["filter"] = Jsonb(values["filter"])
    return params


# --- schedules -----------------------------------------------------------------------------------

def insert_schedule(conn: Connection, values: dict[str, Any], *, actor: str, watermark_at: datetime,
                    next_run_at: datetime) -> dict[str, Any]:
    columns = [*SCHEDULE_FIELDS, "id", "created_by", "watermark_at", "next_run_at"]
    row = conn.execute(
        f"INSERT INTO delivery_schedules ({', '.join(columns)})"
        f" VALUES ({', '.join(f'%({c})s' for c in columns)}) RETURNING *",
        {**_params(values), "id": uuid4(), "created_by": actor, "watermark_at": watermark_at,
         "next_run_at": next_run_at},
    ).fetchone()
    assert row is not None
    return row


def update_schedule(conn: Connection, schedule_id: UUID, values: dict[str, Any], *, next_run_at: datetime,
                    now: datetime) -> dict[str, Any] | None:
    assignments = ", ".join(f"{f} = %({f})s" for f in SCHEDULE_FIELDS)
    return conn.execute(
        f"UPDATE delivery_schedules SET {assignments}, next_run_at = %(next_run_at)s, updated_at = %(now)s"
        " WHERE id = %(id)s AND deleted_at IS NULL RETURNING *",
        {**_params(values), "id": schedule_id, "next_run_at": next_run_at, "now": now},
    ).fetchone()


def soft_delete_schedule(conn: Connection, schedule_id: UUID, *, now: datetime) -> bool:
    row = conn.execute(
        "UPDATE delivery_schedules SET deleted_at = %s, active = false, updated_at = %s"
        " WHERE id = %s AND deleted_at IS NULL RETURNING id",
        (now, now, schedule_id),
    ).fetchone()
    return row is not None


def get_schedule(conn: Connection, schedule_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute(
        "SELECT * FROM delivery_schedules WHERE id = %s AND deleted_at IS NULL" + lock, (schedule_id,)
    ).fetchone()


def list_schedules(conn: Connection, *, limit: int, before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    where = "deleted_at IS NULL"
    params: dict[str, Any] = {"limit": limit}
    if before is not None:
        where += " AND (created_at, id) < (%(at)s, %(id)s)"
        params |= {"at": before[0], "id": UUID(before[1])}
    return conn.execute(
        f"SELECT * FROM delivery_schedules WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        params,
    ).fetchall()


def claim_due_schedules(conn: Connection, *, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Active schedules whose time has come, locked; a concurrent claimer skips them (no double run)."""
    return conn.execute(
        "SELECT * FROM delivery_schedules WHERE active AND deleted_at IS NULL AND next_run_at <= %s"
        " ORDER BY next_run_at, id LIMIT %s FOR UPDATE SKIP LOCKED",
        (now, limit),
    ).fetchall()


def set_next_run(conn: Connection, schedule_id: UUID, next_run_at: datetime) -> None:
    conn.execute("UPDATE delivery_schedules SET next_run_at = %s WHERE id = %s", (next_run_at, schedule_id))


def advance_watermark(conn: Connection, schedule_id: UUID, to: datetime) -> None:
    conn.execute(
        "UPDATE delivery_schedules SET watermark_at = GREATEST(watermark_at, %s) WHERE id = %s", (to, schedule_id)
    )


# --- runs ------------------------------------------------------------------------------------------

def insert_run(conn: Connection, schedule_id: UUID, *, trigger: str, window_from: datetime,
               window_to: datetime) -> dict[str, Any] | None:
    """A queued run, or None when the schedule already has one in flight."""
    return conn.execute(
        "INSERT INTO delivery_runs (id, schedule_id, trigger, status, window_from, window_to)"
        " VALUES (%s, %s, %s, 'queued', %s, %s)"
        " ON CONFLICT (schedule_id) WHERE status IN ('queued', 'running', 'retrying') DO NOTHING RETURNING *",
        (uuid4(), schedule_id, trigger, window_from, window_to),
    ).fetchone()


def in_flight_run(conn: Connection, schedule_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM delivery_runs WHERE schedule_id = %s AND status IN ('queued', 'running', 'retrying')",
        (schedule_id,),
    ).fetchone()


def claim_run(conn: Connection, run_id: UUID, *, now: datetime, lease_s: int) -> dict[str, Any] | None:
    """Take a queued or retrying run (or a running one whose worker vanished past its lease)."""
    return conn.execute(
        "UPDATE delivery_runs SET status = 'running', attempts = attempts + 1, started_at = %(now)s"
        " WHERE id = %(id)s AND (status IN ('queued', 'retrying')"
        "   OR (status = 'running' AND started_at < %(now)s - make_interval(secs => %(lease)s)))"
        " RETURNING *",
        {"id": run_id, "now": now, "lease": lease_s},
    ).fetchone()


def finish_attempt(conn: Connection, run_id: UUID, *, status: str, items: int | None, size: int | None,
                   response_code: int | None, error: str | None, duration_ms: int, location: str | None,
                   now: datetime) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE delivery_runs SET status = %(status)s, items = %(items)s, bytes = %(bytes)s,"
        " response_code = %(code)s, error = %(error)s, duration_ms = %(ms)s, location = %(location)s,"
        " finished_at = CASE WHEN %(status)s IN ('succeeded', 'failed') THEN %(now)s END"
        " WHERE id = %(id)s RETURNING *",
        {"id": run_id, "status": status, "items": items, "bytes": size, "code": response_code,
         "error": error[:1000] if error else None, "ms": duration_ms, "location": location, "now": now},
    ).fetchone()
    assert row is not None
    return row


def stale_running_runs(conn: Connection, *, now: datetime, lease_s: int) -> list[UUID]:
    """Runs a vanished worker left `running` beyond the lease (the minute job queues them again)."""
    rows = conn.execute(
        "UPDATE delivery_runs SET status = 'retrying' WHERE status = 'running'"
        " AND started_at < %s - make_interval(secs => %s) RETURNING id",
        (now, lease_s),
    ).fetchall()
    return [r["id"] for r in rows]


def get_run(conn: Connection, run_id: UUID) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM delivery_runs WHERE id = %s", (run_id,)).fetchone()


def runs_of(conn: Connection, schedule_id: UUID, *, limit: int,
            before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    where = "schedule_id = %(schedule)s"
    params: dict[str, Any] = {"schedule": schedule_id, "limit": limit}
    if before is not None:
        where += " AND (created_at, id) < (%(at)s, %(id)s)"
        params |= {"at": before[0], "id": UUID(before[1])}
    return conn.execute(
        f"SELECT * FROM delivery_runs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s", params
    ).fetchall()


def stats(conn: Connection, *, since: datetime) -> list[dict[str, Any]]:
    """Per live schedule: finished runs since `since`, how many succeeded, the last success."""
    return conn.execute(
        "SELECT s.id, s.partner, s.active,"
        "  count(r.id) FILTER (WHERE r.status IN ('succeeded', 'failed') AND r.created_at >= %(since)s) AS finished,"
        "  count(r.id) FILTER (WHERE r.status = 'succeeded' AND r.created_at >= %(since)s) AS succeeded,"
        "  count(r.id) FILTER (WHERE r.status = 'failed' AND r.created_at >= %(since)s) AS failed,"
        "  max(r.finished_at) FILTER (WHERE r.status = 'succeeded') AS last_success_at,"
        "  max(r.finished_at) FILTER (WHERE r.status = 'failed') AS last_failure_at,"
        "  coalesce(sum(r.items) FILTER (WHERE r.status = 'succeeded' AND r.created_at >= %(since)s), 0)"
        "    AS items_delivered"
        " FROM delivery_schedules s LEFT JOIN delivery_runs r ON r.schedule_id = s.id"
        " WHERE s.deleted_at IS NULL GROUP BY s.id ORDER BY s.created_at, s.id",
        {"since": since},
    ).fetchall()


# --- content ---------------------------------------------------------------------------------------

def approved_between(conn: Connection, window_from: datetime, window_to: datetime,
                     *, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Approved content decided in (window_from, window_to], oldest first, read in batches."""
    with conn.cursor(name=f"approved_{uuid4().hex[:8]}") as cursor:
        cursor.itersize = batch
        cursor.execute(
            "SELECT id, kind, title, body, domain, latitude, longitude, decided_at, decided_by, route_path,"
            " created_at FROM submissions WHERE status = 'approved' AND decided_at > %s AND decided_at <= %s"
            " ORDER BY decided_at, id",
            (window_from, window_to),
        )
        yield from cursor
