"""Reading the economy out of the journal by time window, and the hourly snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.economy import HARDSHIP_THRESHOLD, HealthFigures, rounded
from chalicelib.domain.ledger import FAUCET, SINKS

STARTER_GRANT_KIND = "starter_grant"
HARDSHIP_WAIVER_KIND = "hardship_waiver"


def window_flows(conn: Connection, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(faucet without starter grants, starter grants, sink) moved in [start, end), in millicredits.

    The faucet account is debited when it pays, so what it paid is minus the sum of its legs; the
    sink (the old account and its 16 shards) is credited, so what it took is the sum of their legs (net
    of any refund out of it).
    """
    row = conn.execute(
        "SELECT"
        "  coalesce(-sum(l.amount) FILTER (WHERE a.code = %(faucet)s AND e.kind <> %(grant)s), 0) AS faucet,"
        "  coalesce(-sum(l.amount) FILTER (WHERE a.code = %(faucet)s AND e.kind = %(grant)s), 0) AS grants,"
        "  coalesce(sum(l.amount) FILTER (WHERE a.code = ANY(%(sinks)s)), 0) AS sink"
        " FROM accounts a"
        " JOIN journal_legs l ON l.account_id = a.id AND l.created_at >= %(start)s AND l.created_at < %(end)s"
        " JOIN journal_entries e ON e.id = l.entry_id"
        " WHERE a.code = %(faucet)s OR a.code = ANY(%(sinks)s)",
        {"faucet": FAUCET, "sinks": list(SINKS), "grant": STARTER_GRANT_KIND, "start": start, "end": end},
    ).fetchone()
    assert row is not None
    return int(row["faucet"]), int(row["grants"]), int(row["sink"])


def daily_flows(conn: Connection, end: datetime, days: int) -> list[tuple[int, int]]:
    """(faucet without starter grants, sink) for each of the `days` 24-hour windows before `end`,
    oldest first (a day with no movement is (0, 0))."""
    rows = conn.execute(
        "SELECT floor(extract(epoch FROM (%(end)s - l.created_at)) / 86400)::int AS days_ago,"
        "  coalesce(-sum(l.amount) FILTER (WHERE a.code = %(faucet)s AND e.kind <> %(grant)s), 0) AS faucet,"
        "  coalesce(sum(l.amount) FILTER (WHERE a.code = ANY(%(sinks)s)), 0) AS sink"
        " FROM accounts a"
        " JOIN journal_legs l ON l.account_id = a.id"
        "  AND l.created_at >= %(end)s - make_interval(days => %(days)s) AND l.created_at < %(end)s"
        " JOIN journal_entries e ON e.id = l.entry_id"
        " WHERE a.code = %(faucet)s OR a.code = ANY(%(sinks)s)"
        " GROUP BY 1",
        {"faucet": FAUCET, "sinks": list(SINKS), "grant": STARTER_GRANT_KIND, "end": end, "days": days},
    ).fetchall()
    by_day = {int(r["days_ago"]): (int(r["faucet"]), int(r["sink"])) for r in rows}
    return [by_day.get(d, (0, 0)) for d in range(days - 1, -1, -1)]


def earlier_grants(conn: Connection, start: datetime, end: datetime, windows: int) -> list[int]:
    """Starter grants (millicredits) paid in each of the `windows` windows as long as [start, end) just
    before `start`, newest first: the baseline a spike of grants is measured against."""
    rows = conn.execute(
        "SELECT floor(extract(epoch FROM (%(start)s - l.created_at)) / %(seconds)s)::int AS ago,"
        "  coalesce(-sum(l.amount), 0) AS grants"
        " FROM accounts a"
        " JOIN journal_legs l ON l.account_id = a.id"
        "  AND l.created_at >= %(start)s - %(seconds)s * %(windows)s * interval '1 second'"
        "  AND l.created_at < %(start)s"
        " JOIN journal_entries e ON e.id = l.entry_id AND e.kind = %(grant)s"
        " WHERE a.code = %(faucet)s"
        " GROUP BY 1",
        {"faucet": FAUCET, "grant": STARTER_GRANT_KIND, "start": start, "windows": windows,
         "seconds": max(1.0, (end - start).total_seconds())},
    ).fetchall()
    by_window = {int(r["ago"]): int(r["grants"]) for r in rows}
    return [by_window.get(i, 0) for i in range(windows)]


def active_agents(conn: Connection, start: datetime, end: datetime) -> int:
    """Agents with a movement in [start, end) other than their starter grant, or a hardship waiver.

    Registering (the starter grant) is not activity; submitting free in hardship is.
    """
    row = conn.execute(
        "SELECT count(DISTINCT agent_id) AS n FROM ("
        "  SELECT a.agent_id FROM journal_legs l"
        "  JOIN accounts a ON a.id = l.account_id"
        "  JOIN journal_entries e ON e.id = l.entry_id"
        "  JOIN agents g ON g.id = a.agent_id"
        "  WHERE a.kind = 'agent' AND g.kind = 'agent' AND e.kind <> %(grant)s"
        "    AND l.created_at >= %(start)s AND l.created_at < %(end)s"
        "  UNION ALL"
        "  SELECT g.id FROM journal_entries e JOIN agents g ON g.id = (e.memo->>'agent_id')::uuid"
        "  WHERE e.kind = %(waiver)s AND g.kind = 'agent'"
        "    AND e.created_at >= %(start)s AND e.created_at < %(end)s"
        ") t",
        {"grant": STARTER_GRANT_KIND, "waiver": HARDSHIP_WAIVER_KIND, "start": start, "end": end},
    ).fetchone()
    assert row is not None
    return int(row["n"])


def balances_at(conn: Connection, end: datetime) -> dict[str, int]:
    """Agents holding an account at `end` (kind agent, not deleted) and their balances then: count,
    how many were in hardship, the lower median (an actual balance) and the sum.

    A balance at `end` is today's balance minus what moved after `end` (a few rows, read through the
    created_at index), so no full journal scan is needed.
    """
    row = conn.execute(
        "WITH later AS ("
        "  SELECT account_id, sum(amount) AS moved FROM journal_legs WHERE created_at >= %(end)s"
        "  GROUP BY account_id"
        "), balances AS ("
        "  SELECT a.balance - coalesce(l.moved, 0) AS balance"
        "  FROM accounts a JOIN agents g ON g.id = a.agent_id"
        "  LEFT JOIN later l ON l.account_id = a.id"
        "  WHERE a.kind = 'agent' AND g.kind = 'agent' AND g.status <> 'deleted' AND a.created_at < %(end)s"
        ")"
        " SELECT count(*) AS total, count(*) FILTER (WHERE balance < %(threshold)s) AS hardship,"
        "  percentile_disc(0.5) WITHIN GROUP (ORDER BY balance) AS median,"
        "  coalesce(sum(balance), 0) AS circulating"
        " FROM balances",
        {"end": end, "threshold": HARDSHIP_THRESHOLD},
    ).fetchone()
    assert row is not None
    return {
        "agents_total": int(row["total"]),
        "hardship_agents": int(row["hardship"]),
        "median_balance": int(row["median"] or 0),
        "circulating": int(row["circulating"]),
    }


def total_validators(conn: Connection) -> int:
    """Agents in the validator pool; 0 while the pool's table does not exist."""
    row = conn.execute("SELECT to_regclass('public.validators') IS NOT NULL AS present").fetchone()
    if row is None or not row["present"]:
        return 0
    counted = conn.execute("SELECT count(*) AS n FROM validators").fetchone()
    return int(counted["n"]) if counted else 0


def figures(conn: Connection, start: datetime, end: datetime) -> tuple[HealthFigures, dict[str, int]]:
    """The health figures of [start, end) and the extra counts stored beside them."""
    faucet, grants, sink = window_flows(conn, start, end)
    stock = balances_at(conn, end)
    health = HealthFigures(
        faucet=faucet, starter_grants=grants, sink=sink, active_agents=active_agents(conn, start, end),
        agents_total=stock["agents_total"], hardship_agents=stock["hardship_agents"],
        median_balance=stock["median_balance"],
    )
    return health, {"circulating": stock["circulating"], "total_validators": total_validators(conn)}


def insert_snapshot(
    conn: Connection, start: datetime, end: datetime, health: HealthFigures, *, extra: dict[str, int],
    alerts: list[dict[str, Any]],
) -> tuple[dict[str, Any], bool]:
    """Store the snapshot of [start, end) once; returns (row, created). A second run of the same
    window (a repeated schedule) returns the first row untouched."""
    ratio = health.ratio
    row = conn.execute(
        "INSERT INTO economy_snapshots (window_start, window_end, faucet, starter_grants, sink, ratio,"
        " ratio_state, active_agents, agents_total, hardship_agents, hardship_rate, median_balance,"
        " circulating, total_validators, alerts)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (window_start, window_end) DO NOTHING RETURNING *",
        (start, end, health.faucet, health.starter_grants, health.sink,
         None if ratio is None else rounded(ratio), health.ratio_state, health.active_agents,
         health.agents_total, health.hardship_agents, rounded(health.hardship_rate), health.median_balance,
         extra["circulating"], extra["total_validators"], Jsonb(alerts)),
    ).fetchone()
    if row is not None:
        return row, True
    existing = conn.execute(
        "SELECT * FROM economy_snapshots WHERE window_start = %s AND window_end = %s", (start, end)
    ).fetchone()
    assert existing is not None
    return existing, False


def latest_snapshot(conn: Connection) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM economy_snapshots ORDER BY window_end DESC, id DESC LIMIT 1").fetchone()


def snapshots_since(conn: Connection, since: datetime, *, limit: int = 2160) -> list[dict[str, Any]]:
    """Snapshots whose window ended after `since`, newest first."""
    return conn.execute(
        "SELECT * FROM economy_snapshots WHERE window_end > %s ORDER BY window_end DESC, id DESC LIMIT %s",
        (since, limit),
    ).fetchall()


def daily_ratios(conn: Connection, since: datetime) -> list[dict[str, Any]] | None:
    """Each day's last snapshot ratio since `since` (day, ratio, ratio_state), newest first; None without the
    snapshots table."""
    table = conn.execute("SELECT to_regclass('economy_snapshots') AS t").fetchone()
    if table is None or table["t"] is None:
        return None
    return conn.execute(
        "SELECT DISTINCT ON (day) (window_end AT TIME ZONE 'UTC')::date AS day, ratio, ratio_state"
        " FROM economy_snapshots WHERE window_end > %s ORDER BY day DESC, window_end DESC, id DESC",
        (since,),
    ).fetchall()


def hardship_now(conn: Connection, threshold: int) -> dict[str, Any]:
    """AI agents' accounts below `threshold` now (`poor`) of all live AI agents (`agents`)."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE a.balance < %s) AS poor, count(*) AS agents FROM accounts a"
        " JOIN agents g ON g.id = a.agent_id WHERE a.kind = 'agent' AND g.kind = 'agent'"
        " AND g.status <> 'deleted'",
        (threshold,),
    ).fetchone()
    assert row is not None
    return row
