"""Mission templates, missions, attestations and problem urgency in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection

TEMPLATE_FIELDS = ("name", "description", "domain", "difficulty", "required_photos", "photo_pairs", "gps_check",
                   "min_minutes_between", "steps", "gps_radius_m", "duration_minutes")


def _template_params(values: dict[str, Any]) -> dict[str, Any]:
    params = {f: values[f] for f in TEMPLATE_FIELDS}
    params["steps"] = Jsonb(list(values["steps"]))
    return params


# --- mission templates ---------------------------------------------------------------------------


def insert_template(conn: Connection, values: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Raises psycopg UniqueViolation when an active template has the name."""
    params = _template_params(values)
    columns = [*TEMPLATE_FIELDS, "created_by", "updated_by"]
    row = conn.execute(
        f"INSERT INTO mission_templates ({', '.join(columns)})"
        f" VALUES ({', '.join(f'%({c})s' for c in columns)}) RETURNING *",
        {**params, "created_by": actor, "updated_by": actor},
    ).fetchone()
    assert row is not None
    return row


def update_template(conn: Connection, template_id: UUID, values: dict[str, Any], *, actor: str,
                    now: datetime) -> dict[str, Any] | None:
    """Replace an active template's fields; None when it does not exist or was deleted."""
    params = _template_params(values)
    sets = ", ".join(f"{f} = %({f})s" for f in TEMPLATE_FIELDS)
    return conn.execute(
        f"UPDATE mission_templates SET {sets}, updated_by = %(actor)s, updated_at = %(now)s"
        " WHERE id = %(id)s AND deleted_at IS NULL RETURNING *",
        {**params, "actor": actor, "now": now, "id": template_id},
    ).fetchone()


def soft_delete_template(conn: Connection, template_id: UUID, *, actor: str, now: datetime) -> bool:
    cur = conn.execute(
        "UPDATE mission_templates SET deleted_at = %s, updated_by = %s, updated_at = %s"
        " WHERE id = %s AND deleted_at IS NULL",
        (now, actor, now, template_id),
    )
    return cur.rowcount == 1


def get_template(conn: Connection, template_id: UUID, *, include_deleted: bool = False) -> dict[str, Any] | None:
    deleted = "" if include_deleted else " AND deleted_at IS NULL"
    return conn.execute("SELECT * FROM mission_templates WHERE id = %s" + deleted, (template_id,)).fetchone()


def list_templates(conn: Connection, *, limit: int, before: tuple[datetime, str] | None,
                   include_deleted: bool = False, domain: str | None = None) -> list[dict[str, Any]]:
    """Newest first, keyset-paged on (created_at, id)."""
    where = ["TRUE"] if include_deleted else ["deleted_at IS NULL"]
    params: list[Any] = []
    if domain is not None:
        where.append("domain = %s")
        params.append(domain)
    if before is not None:
        where.append("(created_at, id) < (%s, %s::uuid)")
        params += [before[0], before[1]]
    params.append(limit)
    return conn.execute(
        "SELECT * FROM mission_templates WHERE " + " AND ".join(where)
        + " ORDER BY created_at DESC, id DESC LIMIT %s",
        params,
    ).fetchall()


# --- missions --------------------------------------------------------------------------------------


def insert_mission(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    values = {**values, "template": Jsonb(values["template"])}
    columns = list(values)
    row = conn.execute(
        f"INSERT INTO missions ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) RETURNING *",
        [values[c] for c in columns],
    ).fetchone()
    assert row is not None
    return row


def get_mission(conn: Connection, mission_id: UUID, *, for_share: bool = False) -> dict[str, Any] | None:
    lock = " FOR SHARE" if for_share else ""
    return conn.execute("SELECT * FROM missions WHERE id = %s" + lock, (mission_id,)).fetchone()


# --- problems and attestations ---------------------------------------------------------------------


def get_problem(conn: Connection, problem_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    """A submission of kind problem (locked: attestations of one problem are counted one at a time)."""
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute(
        "SELECT id, agent_id, kind, status, urgency FROM submissions WHERE id = %s AND kind = 'problem'" + lock,
        (problem_id,),
    ).fetchone()


def insert_attestation(conn: Connection, *, problem_id: UUID, human_id: UUID, status: str,
                       note: str | None, now: datetime) -> dict[str, Any] | None:
    """The new attestation, or None when this human already attested this problem (nothing changes)."""
    return conn.execute(
        "INSERT INTO attestations (problem_id, human_id, status, note, created_at) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (problem_id, human_id) DO NOTHING RETURNING *",
        (problem_id, human_id, status, note, now),
    ).fetchone()


def find_attestation(conn: Connection, problem_id: UUID, human_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM attestations WHERE problem_id = %s AND human_id = %s", (problem_id, human_id)
    ).fetchone()


def delete_attestation(conn: Connection, problem_id: UUID, human_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        "DELETE FROM attestations WHERE problem_id = %s AND human_id = %s RETURNING *", (problem_id, human_id)
    ).fetchone()


def attestation_counts(conn: Connection, problem_id: UUID) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM attestations WHERE problem_id = %s GROUP BY status", (problem_id,)
    ).fetchall()
    counts = {"confirmed": 0, "resolved": 0, "not_found": 0}
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return counts


def record_effect(conn: Connection, problem_id: UUID, effect: str, details: dict[str, Any]) -> bool:
    """True the first time this effect is recorded for the problem (it is applied then, never again)."""
    row = conn.execute(
        "INSERT INTO attestation_effects (problem_id, effect, details) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        (problem_id, effect, Jsonb(details)),
    ).fetchone()
    return row is not None


def applied_effects(conn: Connection, problem_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT effect, details, applied_at FROM attestation_effects WHERE problem_id = %s ORDER BY applied_at",
        (problem_id,),
    ).fetchall()


def set_urgency(conn: Connection, problem_id: UUID, urgency: float) -> None:
    conn.execute("UPDATE submissions SET urgency = %s WHERE id = %s", (urgency, problem_id))
