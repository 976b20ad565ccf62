"""Alerts in PostgreSQL: raised by any rule, deduplicated, later acknowledged and resolved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.alert_rules import RaisedAlert

SEVERITIES = ("warning", "critical")
DEDUP_WINDOW = timedelta(hours=1)


def _jsonb(details: dict[str, Any] | None) -> Jsonb:
    return Jsonb(details or {}, dumps=lambda obj: json.dumps(obj, default=str))


def raise_alert(
    conn: Connection,
    *,
    rule: str,
    severity: str,
    title: str,
    details: dict[str, Any] | None = None,
    dedup_key: str | None = None,
    tier: int = 1,
    now: datetime | None = None,
) -> RaisedAlert:
    """Record one occurrence of an alert in the caller's transaction, deduplicated by `dedup_key`.

    The key defaults to the rule. An unresolved (open or acknowledged) alert with the same key absorbs
    the occurrence: its last_seen_at, occurrence count and details move, a warning becomes critical
    when a critical occurrence arrives, and no new alert appears. An alert resolved less than an hour
    ago (DEDUP_WINDOW) absorbs it the same way, so that resolving a condition that still fires does
    not re-alert at once; after that hour a new alert opens. Safe under concurrent raisers.
    """
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}")
    key = dedup_key if dedup_key is not None else rule
    now = now or datetime.now(UTC)
    recently_resolved = conn.execute(
        "UPDATE alerts SET last_seen_at = greatest(last_seen_at, %(now)s), occurrences = occurrences + 1,"
        " details = %(details)s"
        " WHERE id = (SELECT id FROM alerts WHERE dedup_key = %(key)s AND status = 'resolved'"
        "             AND resolved_at > %(since)s"
        "             AND NOT EXISTS (SELECT 1 FROM alerts u WHERE u.dedup_key = %(key)s AND u.status <> 'resolved')"
        "             ORDER BY resolved_at DESC LIMIT 1)"
        " RETURNING id",
        {"now": now, "details": _jsonb(details), "key": key, "since": now - DEDUP_WINDOW},
    ).fetchone()
    if recently_resolved is not None:
        return RaisedAlert(recently_resolved["id"], created=False)
    row = conn.execute(
        "INSERT INTO alerts (rule, severity, tier, title, details, dedup_key, created_at, last_seen_at)"
        " VALUES (%(rule)s, %(severity)s, %(tier)s, %(title)s, %(details)s, %(key)s, %(now)s, %(now)s)"
        " ON CONFLICT (dedup_key) WHERE status <> 'resolved' DO UPDATE SET"
        "   last_seen_at = greatest(alerts.last_seen_at, EXCLUDED.last_seen_at),"
        "   occurrences = alerts.occurrences + 1,"
        "   details = EXCLUDED.details,"
        "   severity = CASE WHEN EXCLUDED.severity = 'critical' THEN 'critical' ELSE alerts.severity END"
        " RETURNING id, (xmax = 0) AS inserted",
        {"rule": rule, "severity": severity, "tier": tier, "title": title, "details": _jsonb(details),
         "key": key, "now": now},
    ).fetchone()
    assert row is not None
    return RaisedAlert(row["id"], created=bool(row["inserted"]))


def get(conn: Connection, alert_id: UUID) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM alerts WHERE id = %s", (alert_id,)).fetchone()


def list_for_rules(conn: Connection, rules: list[str], *, limit: int = 50) -> list[dict[str, Any]]:
    """Alerts of the given rules, newest first."""
    return conn.execute(
        "SELECT * FROM alerts WHERE rule = ANY(%s) ORDER BY created_at DESC, id LIMIT %s", (rules, limit)
    ).fetchall()


def resolve(conn: Connection, alert_id: UUID, *, now: datetime | None = None) -> bool:
    """Mark an alert resolved; False when it was already resolved or does not exist."""
    cur = conn.execute(
        "UPDATE alerts SET status = 'resolved', resolved_at = %s WHERE id = %s AND status <> 'resolved'",
        (now or datetime.now(UTC), alert_id),
    )
    return cur.rowcount == 1


# --- the alert engine: listing, acknowledgement, escalation, notifications (migration 007) ---------

STATUSES = ("open", "acknowledged", "resolved")


def list_alerts(
    conn: Connection,
    *,
    status: str | None = None,
    severity: str | None = None,
    rule: str | None = None,
    before: tuple[datetime, UUID] | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Alerts newest first, filtered; keyset-paged on (created_at, id) strictly before `before`."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for column, value in (("status", status), ("severity", severity), ("rule", rule)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if before is not None:
        clauses.append("(created_at, id) < (%s, %s)")
        params.extend(before)
    return conn.execute(
        "SELECT * FROM alerts WHERE " + " AND ".join(clauses) + " ORDER BY created_at DESC, id DESC LIMIT %s",
        (*params, limit),
    ).fetchall()


def acknowledge(
    conn: Connection, alert_id: UUID, *, actor: str, note: str | None = None, now: datetime | None = None
) -> dict[str, Any] | None:
    """Acknowledge an open alert (stops its escalation). Returns the row as it is afterwards: an alert
    already acknowledged is returned unchanged, a resolved one too (the caller tells them apart);
    None when it does not exist."""
    row = conn.execute(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s, ack_note = %s"
        " WHERE id = %s AND status = 'open' RETURNING *",
        (now or datetime.now(UTC), actor, note, alert_id),
    ).fetchone()
    return row if row is not None else get(conn, alert_id)


def resolve_keys(conn: Connection, dedup_keys: list[str], *, actor: str, now: datetime | None = None) -> list[UUID]:
    """Resolve the unresolved alerts of these dedup keys (their condition cleared); returns their ids."""
    if not dedup_keys:
        return []
    rows = conn.execute(
        "UPDATE alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s"
        " WHERE dedup_key = ANY(%s) AND status <> 'resolved' RETURNING id",
        (now or datetime.now(UTC), actor, dedup_keys),
    ).fetchall()
    return [r["id"] for r in rows]


def mark_resolved_by(conn: Connection, alert_id: UUID, *, actor: str) -> None:
    conn.execute("UPDATE alerts SET resolved_by = %s WHERE id = %s", (actor, alert_id))


def unresolved_keys(conn: Connection, rules: list[str]) -> set[str]:
    rows = conn.execute(
        "SELECT dedup_key FROM alerts WHERE rule = ANY(%s) AND status <> 'resolved' AND dedup_key IS NOT NULL",
        (rules,),
    ).fetchall()
    return {r["dedup_key"] for r in rows}


def open_unescalated(conn: Connection) -> list[dict[str, Any]]:
    """Open (unacknowledged) alerts that have not escalated yet, oldest first."""
    return conn.execute(
        "SELECT * FROM alerts WHERE status = 'open' AND escalated_at IS NULL ORDER BY created_at, id"
    ).fetchall()


def mark_escalated(conn: Connection, alert_id: UUID, *, now: datetime) -> bool:
    cur = conn.execute(
        "UPDATE alerts SET escalated_at = %s, escalation_level = escalation_level + 1"
        " WHERE id = %s AND status = 'open' AND escalated_at IS NULL",
        (now, alert_id),
    )
    return cur.rowcount == 1


def unannounced(conn: Connection) -> list[dict[str, Any]]:
    """Unresolved alerts whose raise was never queued for notification (whoever raised them)."""
    return conn.execute(
        "SELECT a.* FROM alerts a WHERE a.status <> 'resolved'"
        " AND NOT EXISTS (SELECT 1 FROM alert_notifications n WHERE n.alert_id = a.id AND n.event = 'raised')"
        " ORDER BY a.created_at, a.id"
    ).fetchall()


def queue_notifications(conn: Connection, alert_id: UUID, event: str, channels: list[str]) -> int:
    """Queue one notification per channel; a (alert, event, channel) already queued is left alone."""
    if not channels:
        return 0
    cur = conn.execute(
        "INSERT INTO alert_notifications (alert_id, event, channel)"
        " SELECT %s, %s, unnest(%s::text[]) ON CONFLICT (alert_id, event, channel) DO NOTHING",
        (alert_id, event, channels),
    )
    return cur.rowcount


def claim_notifications(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    """Pending notifications with their alert, locked for this delivery (others skip them)."""
    return conn.execute(
        "SELECT n.id AS notification_id, n.event, n.channel, n.attempts, n.rounds, a.*"
        " FROM alert_notifications n JOIN alerts a ON a.id = n.alert_id"
        " WHERE n.status = 'pending' ORDER BY n.created_at, n.id LIMIT %s FOR UPDATE OF n SKIP LOCKED",
        (limit,),
    ).fetchall()


def record_delivery(
    conn: Connection, notification_id: int, *, sent: bool, attempts: int, error: str | None, give_up: bool,
    now: datetime,
) -> None:
    """After one delivery round: sent, still pending (retried next round) or failed for good."""
    status = "sent" if sent else ("failed" if give_up else "pending")
    conn.execute(
        "UPDATE alert_notifications SET status = %s, attempts = attempts + %s, rounds = rounds + 1,"
        " last_error = %s, sent_at = CASE WHEN %s THEN %s::timestamptz END WHERE id = %s",
        (status, attempts, (error or "")[:500] or None, sent, now, notification_id),
    )


def notifications_of(conn: Connection, alert_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT event, channel, status, attempts, rounds, last_error, created_at, sent_at"
        " FROM alert_notifications WHERE alert_id = %s ORDER BY id",
        (alert_id,),
    ).fetchall()


def counts(conn: Connection) -> dict[str, int]:
    """Unresolved alerts by status and severity (the dashboard's header)."""
    rows = conn.execute(
        "SELECT status, severity, count(*) AS n FROM alerts WHERE status <> 'resolved' GROUP BY status, severity"
    ).fetchall()
    result = {"open": 0, "acknowledged": 0, "critical": 0, "warning": 0}
    for r in rows:
        result[r["status"]] += int(r["n"])
        result[r["severity"]] += int(r["n"])
    return result


def raise_tier(conn: Connection, alert_id: UUID, tier: int) -> None:
    """A repeat at a more urgent tier (e.g. warning -> critical) moves the alert to that tier."""
    conn.execute("UPDATE alerts SET tier = least(tier, %s) WHERE id = %s", (tier, alert_id))
