"""Daily trends: what one UTC day counts (read from submissions, the decision trail, spot checks, the
economy snapshots and the validator pool), and the stored per-day figures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from chalicelib.db.pool import Connection


def last_done_day(conn: Connection) -> date | None:
    row = conn.execute("SELECT max(day) AS day FROM trend_days").fetchone()
    return row["day"] if row else None


def earliest_data_day(conn: Connection) -> date | None:
    """The first UTC day with a submission (where a first backfill starts)."""
    row = conn.execute(
        "SELECT (min(created_at) AT TIME ZONE 'UTC')::date AS day FROM submissions").fetchone()
    return row["day"] if row else None


def lock_day(conn: Connection, day: date) -> None:
    """Serialise aggregations of one day (a scheduled run and a manual re-run) for the transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('trend_day'), %s)", (day.toordinal(),))


def submissions_by_kind_and_route(conn: Connection, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT kind, COALESCE(route_path, CASE WHEN decided_by = 'layer_a' THEN 'layer_a' ELSE 'none' END)"
        " AS route, count(*) AS n FROM submissions WHERE created_at >= %s AND created_at < %s"
        " GROUP BY 1, 2",
        (start, end),
    ).fetchall()


def decisions_by_path_and_outcome(conn: Connection, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT decided_by AS path, status AS outcome, count(*) AS n FROM submissions"
        " WHERE decided_at >= %s AND decided_at < %s AND decided_by IS NOT NULL GROUP BY 1, 2",
        (start, end),
    ).fetchall()


def layer_a_blocks_by_category(conn: Connection, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Blocked Layer A verdicts of the day, one count per category (a block may name several)."""
    return conn.execute(
        "SELECT c.category, count(*) AS n FROM decision_trail t"
        " CROSS JOIN LATERAL jsonb_array_elements_text(COALESCE(t.verdict -> 'categories', '[]'::jsonb))"
        " AS c(category)"
        " WHERE t.stage = 'layer_a' AND t.created_at >= %s AND t.created_at < %s"
        " AND (t.verdict ->> 'blocked')::boolean GROUP BY 1",
        (start, end),
    ).fetchall()


def layer_a_blocks_total(conn: Connection, *, start: datetime, end: datetime) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM decision_trail WHERE stage = 'layer_a' AND created_at >= %s AND created_at < %s"
        " AND (verdict ->> 'blocked')::boolean",
        (start, end),
    ).fetchone()
    return int(row["n"]) if row else 0


def compliance_inputs(conn: Connection, *, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """For every agent (kind 'agent') registered by ``until`` and not deleted: its Layer A blocks (not
    overturned), admin overturns against it, and its flagged Layer B verdicts within (since, until] --
    what the compliance score counts, for all agents in three grouped scans."""
    return conn.execute(
        "WITH blocks AS ("
        "  SELECT s.agent_id, count(*) AS n FROM submissions s WHERE s.decided_by = 'layer_a'"
        "  AND s.decided_at > %(since)s AND s.decided_at <= %(until)s"
        "  AND NOT EXISTS (SELECT 1 FROM decision_trail t WHERE t.submission_id = s.id AND t.stage = 'admin_review'"
        "  AND t.verdict -> 'overturn' ->> 'decided_by' = 'layer_a' AND t.verdict -> 'overturn' ->> 'to' = 'approved')"
        "  GROUP BY 1),"
        " overturns AS ("
        "  SELECT s.agent_id, count(*) AS n FROM decision_trail t JOIN submissions s ON s.id = t.submission_id"
        "  WHERE t.stage = 'admin_review' AND t.created_at > %(since)s AND t.created_at <= %(until)s"
        "  AND t.verdict -> 'overturn' ->> 'against_agent' = 'true' GROUP BY 1),"
        " flags AS ("
        "  SELECT s.agent_id, jsonb_agg(t.verdict) AS verdicts FROM decision_trail t"
        "  JOIN submissions s ON s.id = t.submission_id"
        "  WHERE t.stage = 'layer_b' AND t.created_at > %(since)s AND t.created_at <= %(until)s"
        "  AND t.verdict ->> 'decision' = 'flagged' GROUP BY 1)"
        " SELECT a.id AS agent_id, COALESCE(b.n, 0) AS layer_a_blocks, COALESCE(o.n, 0) AS admin_overturns,"
        " COALESCE(f.verdicts, '[]'::jsonb) AS flagged"
        " FROM agents a LEFT JOIN blocks b ON b.agent_id = a.id LEFT JOIN overturns o ON o.agent_id = a.id"
        " LEFT JOIN flags f ON f.agent_id = a.id"
        " WHERE a.kind = 'agent' AND a.status <> 'deleted' AND a.created_at <= %(until)s",
        {"since": since, "until": until},
    ).fetchall()


def spot_check_agreement(conn: Connection, *, start: datetime, end: datetime) -> dict[str, int]:
    row = conn.execute(
        "SELECT count(*) AS completed, count(*) FILTER (WHERE agrees) AS agreed FROM spot_checks"
        " WHERE status = 'completed' AND completed_at >= %s AND completed_at < %s",
        (start, end),
    ).fetchone()
    return {"completed": int(row["completed"]), "agreed": int(row["agreed"])} if row else {"completed": 0,
                                                                                          "agreed": 0}


def economy_day(conn: Connection, *, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The hourly snapshots ending within the day: faucet and sink summed, the last one's hardship
    figures; None without snapshots."""
    row = conn.execute(
        "SELECT count(*) AS snapshots, COALESCE(sum(faucet), 0) AS faucet, COALESCE(sum(sink), 0) AS sink,"
        " (array_agg(hardship_agents ORDER BY window_end DESC))[1] AS hardship_agents,"
        " (array_agg(agents_total ORDER BY window_end DESC))[1] AS agents_total"
        " FROM economy_snapshots WHERE window_end > %s AND window_end <= %s",
        (start, end),
    ).fetchone()
    if not row or not row["snapshots"]:
        return None
    return dict(row)


def validator_pool(conn: Connection, *, end: datetime) -> list[dict[str, Any]]:
    """Validators who had joined by ``end`` and were not suspended then, with their current tier and
    their tier changes (time, old, new) as [[iso, old, new], ...]."""
    return conn.execute(
        "SELECT v.agent_id, v.tier, COALESCE(jsonb_agg(jsonb_build_array(c.created_at, c.old_tier, c.new_tier))"
        " FILTER (WHERE c.id IS NOT NULL), '[]'::jsonb) AS changes"
        " FROM validators v LEFT JOIN validator_tier_changes c ON c.agent_id = v.agent_id"
        " WHERE v.joined_at < %(end)s AND NOT (v.suspended_at IS NOT NULL AND v.suspended_at < %(end)s"
        " AND (v.suspended_until IS NULL OR v.suspended_until > %(end)s))"
        " GROUP BY v.agent_id, v.tier",
        {"end": end},
    ).fetchall()


def replace_day(conn: Connection, day: date, figures: Mapping[tuple[str, str], float], *,
                computed_at: datetime) -> int:
    """Delete the day's figures and write these in their place (the caller's transaction)."""
    conn.execute("DELETE FROM trend_days WHERE day = %s", (day,))  # its figures go with it
    conn.execute("INSERT INTO trend_days (day, computed_at, figures) VALUES (%s, %s, %s)",
                 (day, computed_at, len(figures)))
    if figures:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO trend_figures (day, metric, series, value) VALUES (%s, %s, %s, %s)",
                [(day, metric, series, value) for (metric, series), value in sorted(figures.items())],
            )
    return len(figures)


def figures(conn: Connection, *, start: date, end: date, metric: str | None) -> list[dict[str, Any]]:
    """Stored figures for days in [start, end], by day, metric and series."""
    return conn.execute(
        "SELECT day, metric, series, value FROM trend_figures WHERE day BETWEEN %s AND %s"
        " AND (%s::text IS NULL OR metric = %s) ORDER BY day, metric, series",
        (start, end, metric, metric),
    ).fetchall()


def days_done(conn: Connection, *, start: date, end: date) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT day, computed_at, figures FROM trend_days WHERE day BETWEEN %s AND %s ORDER BY day",
        (start, end),
    ).fetchall()
