"""The validator pool in PostgreSQL: members, home regions, quotas, scores and tier history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.db.pool import Connection
from chalicelib.domain.consensus import Candidate, LatLng, Tier

RESPONSE_WINDOW = 100  # response rate over the last 100 closed evaluations
_SUSPENDED = "(v.suspended_at IS NOT NULL AND (v.suspended_until IS NULL OR v.suspended_until > now()))"


def get(conn: Connection, agent_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM validators WHERE agent_id = %s" + lock, (agent_id,)).fetchone()


def backfill(conn: Connection, *, verified_before: datetime, min_approvals: int, now: datetime) -> list[UUID]:
    """Add every active verified AI agent not yet in the pool as an apprentice; returns those added."""
    rows = conn.execute(
        "INSERT INTO validators (agent_id, joined_at, tier_changed_at, updated_at, quota_day)"
        " SELECT a.id, %(now)s, %(now)s, %(now)s, (%(now)s AT TIME ZONE 'UTC')::date FROM agents a"
        " WHERE a.kind = 'agent' AND a.status = 'active' AND a.created_at <= %(before)s"
        "   AND a.approvals_count >= %(approvals)s"
        " ORDER BY a.created_at, a.id"
        " ON CONFLICT (agent_id) DO NOTHING RETURNING agent_id",
        {"now": now, "before": verified_before, "approvals": min_approvals},
    ).fetchall()
    return [r["agent_id"] for r in rows]


def count(conn: Connection) -> dict[str, int]:
    """Pool size: all members and the active (not suspended) ones, at the database's clock."""
    row = conn.execute(
        "SELECT count(*) AS total, count(*) FILTER (WHERE NOT " + _SUSPENDED + ") AS active FROM validators v"
    ).fetchone()
    assert row is not None
    return {"total": int(row["total"]), "active": int(row["active"])}



# The quota counters of each mode: live work and shadow work never share a quota.
_COUNTERS = {"live": ("evaluations_today", "quota_day"), "shadow": ("shadow_evaluations_today", "shadow_quota_day")}


def candidates(conn: Connection, *, today: datetime, mode: str = "live") -> list[Candidate]:
    """Every pool member as assignment sees it (suspended and over-quota ones included: the rule excludes);
    ``evaluations_today`` is the count of the ``mode``'s own quota."""
    count, day = _COUNTERS[mode]
    rows = conn.execute(
        "SELECT v.agent_id, a.owner_id, v.tier,"
        f" CASE WHEN v.{day} = (%(today)s AT TIME ZONE 'UTC')::date THEN v.{count} ELSE 0 END"
        "   AS evaluations_today,"
        " (v.suspended_at IS NOT NULL AND (v.suspended_until IS NULL OR v.suspended_until > %(today)s))"
        "   OR a.status <> 'active' AS suspended,"
        " COALESCE(array_agg(ARRAY[r.latitude, r.longitude] ORDER BY r.id)"
        "   FILTER (WHERE r.id IS NOT NULL), '{}') AS regions"
        " FROM validators v JOIN agents a ON a.id = v.agent_id"
        " LEFT JOIN validator_regions r ON r.agent_id = v.agent_id"
        " GROUP BY v.agent_id, a.owner_id, a.status",
        {"today": today},
    ).fetchall()
    return [
        Candidate(
            validator_id=str(r["agent_id"]),
            owner_id=str(r["owner_id"]),
            tier=r["tier"],
            evaluations_today=int(r["evaluations_today"]),
            suspended=bool(r["suspended"]),
            home_regions=tuple((float(p[0]), float(p[1])) for p in r["regions"]),
        )
        for r in rows
    ]


def lock(conn: Connection, agent_ids: Sequence[UUID]) -> None:
    """Lock validator rows in one order (by id) before writing several: concurrent stages never deadlock."""
    if agent_ids:
        conn.execute("SELECT agent_id FROM validators WHERE agent_id = ANY(%s) ORDER BY agent_id FOR UPDATE",
                     (list(agent_ids),))


def reserve_quota(
    conn: Connection, agent_ids: Sequence[UUID], *, now: datetime, quota: int, mode: str = "live"
) -> set[UUID]:
    """Count one evaluation against each validator's daily quota of ``mode``; returns those still under it.

    Atomic per row: two assignments racing for a validator's last slot cannot both get it.
    """
    if not agent_ids:
        return set()
    count, day = _COUNTERS[mode]
    lock(conn, agent_ids)
    rows = conn.execute(
        f"UPDATE validators SET"
        f" {count} = CASE WHEN {day} = (%(now)s AT TIME ZONE 'UTC')::date THEN {count} + 1 ELSE 1 END,"
        f" {day} = (%(now)s AT TIME ZONE 'UTC')::date"
        " WHERE agent_id = ANY(%(ids)s)"
        f"   AND ({day} <> (%(now)s AT TIME ZONE 'UTC')::date OR {count} < %(quota)s)"
        " RETURNING agent_id",
        {"now": now, "ids": list(agent_ids), "quota": quota},
    ).fetchall()
    return {r["agent_id"] for r in rows}


def release_quota(conn: Connection, agent_ids: Sequence[UUID], *, assigned_day: datetime, mode: str = "live") -> None:
    """Give back the quota of cancelled evaluations (only if still counted on that day)."""
    count, day = _COUNTERS[mode]
    if agent_ids:
        conn.execute(
            f"UPDATE validators SET {count} = greatest(0, {count} - 1)"
            f" WHERE agent_id = ANY(%s) AND {day} = (%s AT TIME ZONE 'UTC')::date",
            (list(agent_ids), assigned_day),
        )


def reset_quotas(conn: Connection, *, now: datetime) -> int:
    """The daily reset: every counter (live and shadow) from an earlier day goes back to zero."""
    total = 0
    for count, day in _COUNTERS.values():
        cur = conn.execute(
            f"UPDATE validators SET {count} = 0, {day} = (%(now)s AT TIME ZONE 'UTC')::date"
            f" WHERE {day} < (%(now)s AT TIME ZONE 'UTC')::date AND {count} > 0",
            {"now": now},
        )
        total += cur.rowcount
    return total


def reset_today(conn: Connection, agent_id: UUID, *, modes: Sequence[str], actor: str, reason: str,
                now: datetime) -> dict[str, Any]:
    """An operator's reset: the ``modes``' counters back to zero for today, recorded with who and why."""
    row = conn.execute(
        "SELECT CASE WHEN quota_day = (%(now)s AT TIME ZONE 'UTC')::date THEN evaluations_today ELSE 0 END AS live,"
        " CASE WHEN shadow_quota_day = (%(now)s AT TIME ZONE 'UTC')::date THEN shadow_evaluations_today ELSE 0 END"
        "   AS shadow FROM validators WHERE agent_id = %(id)s FOR UPDATE",
        {"now": now, "id": agent_id},
    ).fetchone()
    assert row is not None
    for mode in modes:
        count, day = _COUNTERS[mode]
        conn.execute(f"UPDATE validators SET {count} = 0, {day} = (%s AT TIME ZONE 'UTC')::date WHERE agent_id = %s",
                     (now, agent_id))
    conn.execute(
        "INSERT INTO validator_quota_resets (agent_id, actor, reason, modes, live_before, shadow_before, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (agent_id, actor, reason, list(modes), row["live"], row["shadow"], now),
    )
    return {"live_before": int(row["live"]), "shadow_before": int(row["shadow"])}


def regions(conn: Connection, agent_id: UUID) -> list[dict[str, Any]]:
    """Home regions: rounded coordinates, and the precise point encrypted in `location_enc`."""
    return conn.execute(
        "SELECT latitude, longitude, label, location_enc FROM validator_regions WHERE agent_id = %s ORDER BY id",
        (agent_id,),
    ).fetchall()


def replace_regions(conn: Connection, agent_id: UUID, new: Sequence[tuple[LatLng, str]],
                    locations: Sequence[str | None] | None = None) -> None:
    """Replace the validator's home regions (the caller holds the validator's row lock); `locations`
    are the encrypted precise points, one per region."""
    conn.execute("DELETE FROM validator_regions WHERE agent_id = %s", (agent_id,))
    sealed = list(locations) if locations is not None else [None] * len(new)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO validator_regions (agent_id, latitude, longitude, label, location_enc)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(agent_id, lat, lng, label, token) for ((lat, lng), label), token in zip(new, sealed, strict=True)],
        )


def set_suspension(
    conn: Connection, agent_id: UUID, *, suspended: bool, reason: str | None, until: datetime | None, now: datetime
) -> None:
    if suspended:
        conn.execute(
            "UPDATE validators SET suspended_at = %s, suspended_until = %s, suspension_reason = %s,"
            " updated_at = %s WHERE agent_id = %s",
            (now, until, reason, now, agent_id),
        )
    else:
        conn.execute(
            "UPDATE validators SET suspended_at = NULL, suspended_until = NULL, suspension_reason = NULL,"
            " updated_at = %s WHERE agent_id = %s",
            (now, agent_id),
        )


def scored_pairs(conn: Connection, agent_id: UUID, *, limit: int) -> list[tuple[str, str]]:
    """The last ``limit`` (decision, truth) pairs, oldest first, ordered by when truth arrived then id."""
    rows = conn.execute(
        "SELECT decision, truth FROM evaluations WHERE validator_id = %s AND scored_at IS NOT NULL"
        " ORDER BY scored_at DESC, id DESC LIMIT %s",
        (agent_id, limit),
    ).fetchall()
    return [(r["decision"], r["truth"]) for r in reversed(rows)]


def scored_counts(conn: Connection, agent_id: UUID, since: datetime) -> tuple[int, int]:
    """(evaluations with ground truth, of which the truth first arrived after ``since``)."""
    row = conn.execute(
        "SELECT count(*) AS total, count(*) FILTER (WHERE scored_at > %s) AS recent"
        " FROM evaluations WHERE validator_id = %s AND scored_at IS NOT NULL",
        (since, agent_id),
    ).fetchone()
    assert row is not None
    return int(row["total"]), int(row["recent"])


def scoring_inputs(conn: Connection, agent_ids: Sequence[UUID], *, limit: int) -> list[dict[str, Any]]:
    """For each validator, in one statement, row-locked in agent_id order: ``agent_id``, ``tier``,
    ``tier_changed_at``, ``pairs`` (its last ``limit`` (decision, truth) pairs, oldest first, as
    scored_pairs), ``scored`` and ``since_change`` (as scored_counts since tier_changed_at).
    Validators not in the pool are left out."""
    if not agent_ids:
        return []
    rows = conn.execute(
        "SELECT v.agent_id, v.tier, v.tier_changed_at,"
        "  (SELECT coalesce(json_agg(json_build_array(w.decision, w.truth) ORDER BY w.scored_at, w.id), '[]')"
        "   FROM (SELECT e.decision, e.truth, e.scored_at, e.id FROM evaluations e"
        "         WHERE e.validator_id = v.agent_id AND e.scored_at IS NOT NULL"
        "         ORDER BY e.scored_at DESC, e.id DESC LIMIT %(limit)s) w) AS pairs,"
        "  c.scored, c.since_change"
        " FROM validators v CROSS JOIN LATERAL ("
        "  SELECT count(*) AS scored, count(*) FILTER (WHERE e.scored_at > v.tier_changed_at) AS since_change"
        "  FROM evaluations e WHERE e.validator_id = v.agent_id AND e.scored_at IS NOT NULL) c"
        " WHERE v.agent_id = ANY(%(ids)s::uuid[])"
        " ORDER BY v.agent_id FOR UPDATE OF v",
        {"ids": list(agent_ids), "limit": limit},
    ).fetchall()
    return [{**r, "pairs": [(d, t) for d, t in r["pairs"]], "scored": int(r["scored"]),
             "since_change": int(r["since_change"])} for r in rows]


def update_scores_many(conn: Connection, updates: Sequence[dict[str, Any]], *, now: datetime) -> None:
    """update_scores for several validators in one statement; each update holds ``agent_id``, ``f1``,
    ``precision``, ``recall``, ``scored``, ``tier`` and ``tier_changed``."""
    if not updates:
        return
    conn.execute(
        "UPDATE validators v SET f1_score = u.f1, precision_score = u.precision, recall_score = u.recall,"
        " scored_evaluations = u.scored, tier = u.tier,"
        " tier_changed_at = CASE WHEN u.changed THEN %(now)s ELSE v.tier_changed_at END, updated_at = %(now)s"
        " FROM unnest(%(ids)s::uuid[], %(f1)s::float8[], %(precision)s::float8[], %(recall)s::float8[],"
        "  %(scored)s::int[], %(tier)s::text[], %(changed)s::bool[])"
        "  AS u(agent_id, f1, precision, recall, scored, tier, changed)"
        " WHERE v.agent_id = u.agent_id",
        {"ids": [u["agent_id"] for u in updates], "f1": [u["f1"] for u in updates],
         "precision": [u["precision"] for u in updates], "recall": [u["recall"] for u in updates],
         "scored": [u["scored"] for u in updates], "tier": [u["tier"] for u in updates],
         "changed": [u["tier_changed"] for u in updates], "now": now},
    )


def update_scores(
    conn: Connection, agent_id: UUID, *, f1: float, precision: float, recall: float, scored: int,
    tier: Tier, tier_changed: bool, now: datetime,
) -> None:
    conn.execute(
        "UPDATE validators SET f1_score = %s, precision_score = %s, recall_score = %s,"
        " scored_evaluations = %s, tier = %s,"
        " tier_changed_at = CASE WHEN %s THEN %s ELSE tier_changed_at END, updated_at = %s"
        " WHERE agent_id = %s",
        (f1, precision, recall, scored, tier, tier_changed, now, now, agent_id),
    )


def log_tier_change(
    conn: Connection, agent_id: UUID, *, old: Tier, new: Tier, f1: float, scored: int, reason: str, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO validator_tier_changes (agent_id, old_tier, new_tier, f1_score, scored_evaluations, reason,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (agent_id, old, new, f1, scored, reason, now),
    )


def tier_history(conn: Connection, agent_id: UUID, *, limit: int = 50) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT old_tier, new_tier, f1_score, scored_evaluations, reason, created_at"
        " FROM validator_tier_changes WHERE agent_id = %s ORDER BY created_at DESC, id DESC LIMIT %s",
        (agent_id, limit),
    ).fetchall()


def refresh_response_rates(conn: Connection, agent_ids: Sequence[UUID], *, locked: bool = False) -> None:
    """Response rate = answered / (answered + expired) over each validator's last 100 closed evaluations.

    The rows are locked in id order first, unless the caller says it holds them (``locked``)."""
    if not agent_ids:
        return
    if not locked:
        lock(conn, agent_ids)
    conn.execute(
        # The last `window` closed ones of each validator, read newest first from evaluations_closed_idx
        # (answered and expired evaluations always carry closed_at): never the validator's whole history.
        "UPDATE validators v SET response_rate = r.rate FROM ("
        "  SELECT ids.validator_id, avg((last.status = 'answered')::int)::double precision AS rate"
        "  FROM (SELECT DISTINCT unnest(%(ids)s::uuid[]) AS validator_id) ids"
        "  CROSS JOIN LATERAL (SELECT e.status FROM evaluations e WHERE e.validator_id = ids.validator_id"
        "    AND e.closed_at IS NOT NULL AND e.status IN ('answered', 'expired')"
        "    ORDER BY e.closed_at DESC, e.id DESC LIMIT %(window)s) last"
        "  GROUP BY ids.validator_id"
        ") r WHERE v.agent_id = r.validator_id",
        {"ids": list(agent_ids), "window": RESPONSE_WINDOW},
    )


def evaluation_counts(conn: Connection, agent_id: UUID) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM evaluations WHERE validator_id = %s GROUP BY status", (agent_id,)
    ).fetchall()
    counts = {"pending": 0, "answered": 0, "expired": 0, "cancelled": 0}
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return counts


def page(conn: Connection, *, limit: int, before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    """Pool members, newest first, keyset-paged on (joined_at, agent_id) — the same pair as the order."""
    params: list[Any] = []
    where = ""
    if before is not None:
        where = " WHERE (v.joined_at, v.agent_id) < (%s, %s::uuid)"
        params += [before[0], before[1]]
    params.append(limit)
    return conn.execute(
        "SELECT v.*, a.name, a.owner_id FROM validators v JOIN agents a ON a.id = v.agent_id"
        + where + " ORDER BY v.joined_at DESC, v.agent_id DESC LIMIT %s",
        params,
    ).fetchall()


def pool_quality(conn: Connection) -> dict[str, Any]:
    """Mean F1 of validators with ground truth and the pooled response rate (go/no-go inputs)."""
    row = conn.execute(
        "SELECT avg(f1_score) FILTER (WHERE scored_evaluations > 0) AS avg_f1,"
        " count(*) FILTER (WHERE scored_evaluations > 0) AS scored_validators FROM validators"
    ).fetchone()
    closed = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'answered') AS answered,"
        " count(*) FILTER (WHERE status = 'expired') AS expired FROM evaluations"
        " WHERE status IN ('answered', 'expired') AND closed_at > now() - interval '7 days'"
    ).fetchone()
    assert row is not None and closed is not None
    return {
        "avg_f1": None if row["avg_f1"] is None else float(row["avg_f1"]),
        "scored_validators": int(row["scored_validators"]),
        "answered": int(closed["answered"]),
        "expired": int(closed["expired"]),
    }
