"""Reading the economy out of the journal by time window, and the hourly snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.economy import HARDSHIP_THRESHOLD, HealthFigures, rounded, split_window
from chalicelib.domain.ledger import FAUCET, SINK, SINK_SHARD_PATTERN

STARTER_GRANT_KIND = "starter_grant"
HARDSHIP_WAIVER_KIND = "hardship_waiver"


# The fee sink and its shards (system:sink:N). The range lets the unique index on code find them in
# any collation (letters, not punctuation, order them); the exact test follows.
_SINK_ACCOUNT = ("(a.code >= %(sink)s AND a.code < %(sink_end)s"
                 " AND (a.code = %(sink)s OR a.code LIKE %(sink_shards)s))")
_SINK_PARAMS = {"sink": SINK, "sink_end": SINK[:-1] + chr(ord(SINK[-1]) + 1), "sink_shards": SINK_SHARD_PATTERN}
ROLLUP = "hourly_flows"


def rollup_watermark(conn: Connection) -> datetime | None:
    """Every hour before it is in ledger_hourly_flows; None before the first roll-up."""
    row = conn.execute("SELECT watermark FROM ledger_rollup_state WHERE name = %s", (ROLLUP,)).fetchone()
    return None if row is None else row["watermark"]


def journal_start(conn: Connection) -> datetime | None:
    """When the first leg was written (None: an empty journal)."""
    row = conn.execute("SELECT created_at FROM journal_legs ORDER BY id LIMIT 1").fetchone()
    return None if row is None else row["created_at"]


def roll_up_hours(conn: Connection, start: datetime, end: datetime) -> int:
    """Recompute the rollup of the whole hours in [start, end) from the journal (replacing what was
    there: running it twice changes nothing) and move the watermark to `end` if it is behind.
    Returns the rollup rows written."""
    written = conn.execute(
        "INSERT INTO ledger_hourly_flows (hour, account, entry_kind, amount, legs)"
        " SELECT date_trunc('hour', l.created_at, 'UTC'),"
        "  CASE WHEN a.code = %(faucet)s THEN 'faucet'"
        "   WHEN a.code = %(sink)s OR a.code LIKE %(sink_shards)s THEN 'sink' ELSE a.kind END,"
        "  e.kind, sum(l.amount), count(*)"
        " FROM journal_legs l JOIN accounts a ON a.id = l.account_id JOIN journal_entries e ON e.id = l.entry_id"
        " WHERE l.created_at >= %(start)s AND l.created_at < %(end)s"
        " GROUP BY 1, 2, 3"
        " ON CONFLICT (hour, account, entry_kind) DO UPDATE SET amount = excluded.amount, legs = excluded.legs",
        {"faucet": FAUCET, **_SINK_PARAMS, "start": start, "end": end},
    ).rowcount
    conn.execute(
        "INSERT INTO ledger_rollup_state (name, watermark) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
        " SET watermark = greatest(ledger_rollup_state.watermark, excluded.watermark), updated_at = now()",
        (ROLLUP, end),
    )
    return written


def bucket_flows(conn: Connection, buckets: list[tuple[datetime, datetime]]) -> list[tuple[int, int, int]]:
    """(faucet without starter grants, starter grants, sink) moved in each [start, end) of `buckets`,
    in millicredits: whole hours before the rollup's watermark from ledger_hourly_flows, the rest
    (partial hours, the tail since the watermark) from the journal's legs. One statement.

    The faucet account is debited when it pays, so what it paid is minus the sum of its legs; the
    sink (with its shards) is credited, so what it took is the sum of its legs (net of any refund).
    """
    watermark = rollup_watermark(conn)
    rolled: list[tuple[int, datetime, datetime]] = []
    direct: list[tuple[int, datetime, datetime]] = []
    for i, (start, end) in enumerate(buckets):
        split = split_window(start, end, watermark)
        if split.rolled is not None:
            rolled.append((i, *split.rolled))
        direct += [(i, a, b) for a, b in split.direct]
    rows = conn.execute(
        "WITH rolled AS (SELECT * FROM unnest(%(r_i)s::int[], %(r_lo)s::timestamptz[], %(r_hi)s::timestamptz[])"
        "  AS r(bucket, lo, hi)),"
        " direct AS (SELECT * FROM unnest(%(d_i)s::int[], %(d_lo)s::timestamptz[], %(d_hi)s::timestamptz[])"
        "  AS d(bucket, lo, hi)),"
        " money AS (SELECT a.id, CASE WHEN a.code = %(faucet)s THEN 'faucet' ELSE 'sink' END AS account"
        "  FROM accounts a WHERE a.code = %(faucet)s OR " + _SINK_ACCOUNT + "),"
        " moved AS ("
        "  SELECT r.bucket, f.account, f.entry_kind, f.amount FROM rolled r"
        "  JOIN ledger_hourly_flows f ON f.hour >= r.lo AND f.hour < r.hi AND f.account IN ('faucet', 'sink')"
        "  UNION ALL"
        "  SELECT d.bucket, m.account, l.kind, l.amount FROM direct d CROSS JOIN money m"
        # OFFSET 0 keeps the subquery apart: one range scan of the account index per (range, account)
        "  CROSS JOIN LATERAL (SELECT e.kind, l.amount FROM journal_legs l JOIN journal_entries e ON e.id = l.entry_id"
        "   WHERE l.account_id = m.id AND l.created_at >= d.lo AND l.created_at < d.hi OFFSET 0) l)"
        " SELECT bucket,"
        "  coalesce(-sum(amount) FILTER (WHERE account = 'faucet' AND entry_kind <> %(grant)s), 0) AS faucet,"
        "  coalesce(-sum(amount) FILTER (WHERE account = 'faucet' AND entry_kind = %(grant)s), 0) AS grants,"
        "  coalesce(sum(amount) FILTER (WHERE account = 'sink'), 0) AS sink"
        " FROM moved GROUP BY bucket",
        {"r_i": [b for b, _, _ in rolled], "r_lo": [lo for _, lo, _ in rolled], "r_hi": [hi for _, _, hi in rolled],
         "d_i": [b for b, _, _ in direct], "d_lo": [lo for _, lo, _ in direct], "d_hi": [hi for _, _, hi in direct],
         "faucet": FAUCET, **_SINK_PARAMS, "grant": STARTER_GRANT_KIND},
    ).fetchall()
    by_bucket = {int(r["bucket"]): (int(r["faucet"]), int(r["grants"]), int(r["sink"])) for r in rows}
    return [by_bucket.get(i, (0, 0, 0)) for i in range(len(buckets))]


def window_flows(conn: Connection, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(faucet without starter grants, starter grants, sink) moved in [start, end), in millicredits."""
    return bucket_flows(conn, [(start, end)])[0]


def daily_flows(conn: Connection, end: datetime, days: int) -> list[tuple[int, int]]:
    """(faucet without starter grants, sink) for each of the `days` 24-hour windows before `end`,
    oldest first (a day with no movement is (0, 0))."""
    day = timedelta(days=1)
    buckets = [(end - (d + 1) * day, end - d * day) for d in range(days - 1, -1, -1)]
    return [(faucet, sink) for faucet, _, sink in bucket_flows(conn, buckets)]


def earlier_grants(conn: Connection, start: datetime, end: datetime, windows: int) -> list[int]:
    """Starter grants (millicredits) paid in each of the `windows` windows as long as [start, end) just
    before `start`, newest first: the baseline a spike of grants is measured against."""
    length = max(timedelta(seconds=1), end - start)
    buckets = [(start - (i + 1) * length, start - i * length) for i in range(windows)]
    return [grants for _, grants, _ in bucket_flows(conn, buckets)]


def active_agents(conn: Connection, start: datetime, end: datetime) -> int:
    """Agents with a movement in [start, end) other than their starter grant, or a hardship waiver.

    Registering (the starter grant) is not activity; submitting free in hardship is.
    """
    row = conn.execute(
        "SELECT count(DISTINCT agent_id) AS n FROM ("
        "  SELECT a.agent_id FROM journal_legs l"
        "  JOIN accounts a ON a.id = l.account_id"
        "  JOIN agents g ON g.id = a.agent_id"
        "  WHERE a.kind = 'agent' AND g.kind = 'agent'"
        "    AND l.created_at >= %(start)s AND l.created_at < %(end)s"
        # An entry and its legs are written by one statement (one created_at): the grants to leave out
        # are the window's, read through the (kind, created_at) index, not every entry of the journal.
        "    AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = l.entry_id AND e.kind = %(grant)s"
        "     AND e.created_at >= %(start)s - interval '1 day' AND e.created_at < %(end)s + interval '1 day')"
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
