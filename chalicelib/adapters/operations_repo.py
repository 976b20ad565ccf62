"""Operational figures read from PostgreSQL: alert-rule inputs, dashboard series, worker health,
scheduler runs, the slow-query log and the engine's small state. Every query aggregates, so empty
tables (a fresh deployment, a flow not yet used) give zeros or None, never errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.jobs import JobSummary


def _one(conn: Connection, sql: str, params: Any = None) -> dict[str, Any]:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row


# --- alert-rule inputs ----------------------------------------------------------------------------


def false_negative_figures(conn: Connection, since: datetime) -> tuple[int, int]:
    """(false negatives, checked decisions) since `since`.

    Checked: completed spot checks plus admin reviews of automatically approved submissions. False
    negatives: spot checks typed false_negative (unless an admin ruled the peers right) plus admin
    overturns of an automatic approval into a rejection.
    """
    spot = _one(conn,
                "SELECT count(*) AS checked,"
                " count(*) FILTER (WHERE disagreement = 'false_negative'"
                "                  AND verdict IS DISTINCT FROM 'peer_correct') AS fn"
                " FROM spot_checks WHERE status = 'completed' AND completed_at > %s", (since,))
    admin = _one(conn,
                 "SELECT count(*) AS checked,"
                 " count(*) FILTER (WHERE verdict -> 'overturn' ->> 'from' = 'approved'"
                 "                  AND verdict -> 'overturn' ->> 'to' = 'rejected') AS fn"
                 " FROM decision_trail WHERE stage = 'admin_review' AND created_at > %s"
                 " AND verdict -> 'previous' ->> 'status' = 'approved'"
                 " AND verdict -> 'previous' ->> 'decided_by' IN ('layer_a', 'layer_b', 'peer', 'fallback')",
                 (since,))
    return int(spot["fn"]) + int(admin["fn"]), int(spot["checked"]) + int(admin["checked"])


def consensus_latencies(conn: Connection, since: datetime) -> list[float]:
    rows = conn.execute(
        "SELECT latency_ms FROM consensus_decisions WHERE status = 'decided' AND decided_at > %s"
        " AND latency_ms IS NOT NULL", (since,)).fetchall()
    return [float(r["latency_ms"]) for r in rows]


def spot_check_figures(conn: Connection, since: datetime) -> tuple[int, int]:
    """(disagreements, completed) since `since`."""
    row = _one(conn, "SELECT count(*) FILTER (WHERE agrees = false) AS d, count(*) AS n FROM spot_checks"
                     " WHERE status = 'completed' AND completed_at > %s", (since,))
    return int(row["d"]), int(row["n"])


def quorum_figures(conn: Connection, since: datetime) -> tuple[int, int]:
    """(rounds closed by timeout, rounds closed) since `since`."""
    row = _one(conn, "SELECT count(*) FILTER (WHERE cause = 'timeout') AS t, count(*) AS n"
                     " FROM consensus_decisions WHERE status = 'decided' AND decided_at > %s", (since,))
    return int(row["t"]), int(row["n"])


def active_validators(conn: Connection, now: datetime) -> int:
    row = _one(conn, "SELECT count(*) AS n FROM validators v JOIN agents a ON a.id = v.agent_id"
                     " WHERE a.status = 'active' AND (v.suspended_at IS NULL"
                     "   OR (v.suspended_until IS NOT NULL AND v.suspended_until <= %s))", (now,))
    return int(row["n"])


def insufficient_validator_figures(conn: Connection, since: datetime) -> tuple[int, int]:
    """(peer-routed submissions that found too few validators, peer-routed submissions) since `since`:
    every routing to peers leaves one `assignment` entry in the decision trail (assigned, or why not).
    Shadow assignments are left out: shadow work has its own quota and never decides anything."""
    row = _one(conn,
               "SELECT count(*) FILTER (WHERE verdict ->> 'reason' = 'insufficient_validators') AS insufficient,"
               " count(*) AS routed FROM decision_trail WHERE stage = 'assignment' AND created_at > %s"
               " AND verdict ->> 'mode' IS DISTINCT FROM 'shadow'",
               (since,))
    return int(row["insufficient"]), int(row["routed"])


def layer_b_error_figures(conn: Connection, since: datetime, latest: int = 5) -> tuple[int, int, int]:
    """(Layer B calls that ended in an error, Layer B calls made, how many of the latest `latest` calls
    failed in a row, newest first) since `since`; cache hits and calls the budget refused are not calls."""
    row = _one(conn, "SELECT count(*) FILTER (WHERE error IS NOT NULL) AS errors, count(*) AS calls"
                     " FROM layer_b_calls WHERE created_at > %s AND outcome = 'called'", (since,))
    newest = conn.execute("SELECT error IS NOT NULL AS failed FROM layer_b_calls WHERE created_at > %s"
                          " AND outcome = 'called' ORDER BY created_at DESC, id DESC LIMIT %s",
                          (since, latest)).fetchall()
    in_a_row = 0
    for r in newest:
        if not r["failed"]:
            break
        in_a_row += 1
    return int(row["errors"]), int(row["calls"]), in_a_row


def dead_outbox(conn: Connection, since: datetime) -> tuple[int, int]:
    """(outbox messages parked since `since`, all parked messages)."""
    row = _one(conn, "SELECT count(*) FILTER (WHERE dead_at > %s) AS recent, count(*) AS total FROM outbox"
                     " WHERE dead_at IS NOT NULL", (since,))
    return int(row["recent"]), int(row["total"])


def slow_statements(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT statement, duration_ms, occurred_at FROM slow_queries WHERE occurred_at > %s"
        " ORDER BY duration_ms DESC LIMIT 200", (since,)).fetchall()


def purge_slow_statements(conn: Connection, before: datetime) -> int:
    return conn.execute("DELETE FROM slow_queries WHERE occurred_at < %s", (before,)).rowcount


def server_connections(conn: Connection) -> tuple[int, int]:
    """(connections to this server now, max_connections minus the superuser reserve)."""
    row = _one(conn, "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,"
                     " current_setting('max_connections')::int"
                     "   - current_setting('superuser_reserved_connections')::int AS maximum")
    return int(row["used"]), int(row["maximum"])


def layer_b_spend_today(conn: Connection, day: Any) -> int:
    row = _one(conn, "SELECT coalesce((SELECT sum(cost_usd_micros) FROM layer_b_spend_days WHERE day = %(day)s), 0)"
                     " + coalesce((SELECT sum(cost_usd_micros) FROM layer_b_spend_shards WHERE day = %(day)s), 0)"
                     " AS spent", {"day": day})
    return int(row["spent"])


def latest_economy_snapshot(conn: Connection) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT window_end, ratio, ratio_state, hardship_rate FROM economy_snapshots"
        " ORDER BY window_end DESC, id DESC LIMIT 1").fetchone()


# --- the engine's state between runs --------------------------------------------------------------


def get_state(conn: Connection, name: str) -> Any:
    row = conn.execute("SELECT value FROM operations_state WHERE name = %s", (name,)).fetchone()
    return row["value"] if row else None


def set_state(conn: Connection, name: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO operations_state (name, value) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        (name, Jsonb(value)))


# --- scheduler runs -------------------------------------------------------------------------------


def start_job_run(conn: Connection, job: str, started_at: datetime) -> int:
    row = _one(conn, "INSERT INTO job_runs (job, started_at) VALUES (%s, %s) RETURNING id", (job, started_at))
    return int(row["id"])


def finish_job_run(
    conn: Connection, run_id: int, *, ok: bool, error: str | None, result: Any, finished_at: datetime
) -> None:
    conn.execute(
        "UPDATE job_runs SET finished_at = %s, ok = %s, error = %s, result = %s,"
        " duration_ms = greatest(0, (EXTRACT(EPOCH FROM %s - started_at) * 1000)::int) WHERE id = %s",
        (finished_at, ok, (error or "")[:1000] or None, Jsonb(result), finished_at, run_id))


def job_summaries(conn: Connection, since: datetime) -> dict[str, JobSummary]:
    """Per job: its last run, last success, failures in a row, and counts since `since`."""
    # Per job through job_runs_job_idx (job, started_at DESC): the jobs by a skip scan, then a few index
    # probes each, instead of four passes over the whole run log (bench/bench_growth.py, docs/scaling.md).
    rows = conn.execute(
        "WITH RECURSIVE jobs AS ("
        "   (SELECT job FROM job_runs ORDER BY job LIMIT 1)"
        "   UNION ALL"
        "   SELECT (SELECT x.job FROM job_runs x WHERE x.job > jobs.job ORDER BY x.job LIMIT 1) FROM jobs"
        "   WHERE jobs.job IS NOT NULL)"
        " SELECT l.*, g.last_ok_at, f.first_seen_at, r.runs, r.failures,"
        "  (SELECT count(*) FROM job_runs x WHERE x.job = l.job AND x.ok = false"
        "     AND x.started_at > coalesce(g.last_ok_at, '-infinity')) AS consecutive_failures"
        " FROM jobs j"
        " CROSS JOIN LATERAL (SELECT job, started_at, finished_at, ok, error, duration_ms FROM job_runs"
        "   WHERE job = j.job ORDER BY started_at DESC, id DESC LIMIT 1) l"
        " CROSS JOIN LATERAL (SELECT max(started_at) AS last_ok_at FROM job_runs WHERE job = j.job AND ok) g"
        " CROSS JOIN LATERAL (SELECT min(started_at) AS first_seen_at FROM job_runs WHERE job = j.job) f"
        " CROSS JOIN LATERAL (SELECT count(*) AS runs, count(*) FILTER (WHERE ok = false) AS failures"
        "   FROM job_runs WHERE job = j.job AND started_at > %(since)s) r"
        " WHERE j.job IS NOT NULL",
        {"since": since}).fetchall()
    return {
        r["job"]: JobSummary(r["job"], r["started_at"], r["finished_at"], r["ok"], r["error"], r["duration_ms"],
                             r["last_ok_at"], r["first_seen_at"], int(r["consecutive_failures"]), int(r["runs"]),
                             int(r["failures"]))
        for r in rows
    }


def purge_job_runs(conn: Connection, before: datetime) -> int:
    return conn.execute("DELETE FROM job_runs WHERE started_at < %s", (before,)).rowcount


# --- worker health: the oldest waiting item of each stage -------------------------------------------


def stage_backlogs(conn: Connection) -> list[dict[str, Any]]:
    """For every stage: how many items wait and the age in seconds of the oldest one (None when idle)."""
    return conn.execute(
        "SELECT stage, waiting, EXTRACT(EPOCH FROM now() - oldest)::float AS oldest_age_s FROM ("
        " SELECT 'outbox:' || topic AS stage, count(*) AS waiting, min(created_at) AS oldest FROM outbox"
        "  WHERE sent_at IS NULL AND dead_at IS NULL GROUP BY topic"
        " UNION ALL SELECT 'guardrail', count(*), min(created_at) FROM submissions"
        "  WHERE status = 'pending' AND route_path IS NULL"
        " UNION ALL SELECT 'evaluations', count(*), min(assigned_at) FROM evaluations WHERE status = 'pending'"
        " UNION ALL SELECT 'consensus', count(*), min(opened_at) FROM consensus_decisions WHERE status = 'open'"
        " UNION ALL SELECT 'spot_check', count(*), min(created_at) FROM spot_checks"
        "  WHERE status IN ('pending', 'submitting', 'batched')"
        " UNION ALL SELECT 'review', count(*), min(created_at) FROM review_items WHERE status IN ('pending', 'claimed')"
        " UNION ALL SELECT 'privacy', count(*), min(coalesce(uploaded_at, created_at)) FROM evidence"
        "  WHERE status = 'processing' OR (status = 'quarantined' AND uploaded_at IS NOT NULL)"
        ") s ORDER BY stage").fetchall()


def dead_outbox_by_topic(conn: Connection) -> dict[str, int]:
    rows = conn.execute("SELECT topic, count(*) AS n FROM outbox WHERE dead_at IS NOT NULL GROUP BY topic").fetchall()
    return {r["topic"]: int(r["n"]) for r in rows}


# --- dashboard series -----------------------------------------------------------------------------


def decisions_by_path(conn: Connection, since: datetime) -> dict[str, int]:
    rows = conn.execute("SELECT coalesce(decided_by, 'pending') AS path, count(*) AS n FROM submissions"
                        " WHERE created_at > %s GROUP BY 1", (since,)).fetchall()
    return {r["path"]: int(r["n"]) for r in rows}


def routing_split(conn: Connection, since: datetime) -> dict[str, int]:
    """Submissions by the route they took (Layer A blocks and the not-yet-routed apart)."""
    rows = conn.execute(
        "SELECT CASE WHEN decided_by = 'layer_a' THEN 'layer_a'"
        "            WHEN route_path IS NOT NULL THEN route_path ELSE 'unrouted' END AS route, count(*) AS n"
        " FROM submissions WHERE created_at > %s GROUP BY 1", (since,)).fetchall()
    return {r["route"]: int(r["n"]) for r in rows}


def consensus_latency_series(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Hourly p50/p95 of consensus latency (ms) and the number of decisions."""
    return conn.execute(
        "SELECT date_trunc('hour', decided_at) AS bucket, count(*) AS decisions,"
        " percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,"
        " percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms"
        " FROM consensus_decisions WHERE status = 'decided' AND decided_at > %s AND latency_ms IS NOT NULL"
        " GROUP BY 1 ORDER BY 1", (since,)).fetchall()


def spot_check_series(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Daily completed spot checks and agreements."""
    return conn.execute(
        "SELECT date_trunc('day', completed_at) AS bucket, count(*) AS completed,"
        " count(*) FILTER (WHERE agrees) AS agreements FROM spot_checks"
        " WHERE status = 'completed' AND completed_at > %s GROUP BY 1 ORDER BY 1", (since,)).fetchall()


def economy_series(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT window_end AS bucket, ratio, ratio_state, hardship_rate, faucet, sink FROM economy_snapshots"
        " WHERE window_end > %s ORDER BY window_end, id", (since,)).fetchall()


def submissions_series(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Hourly submissions by route (the routing split over time)."""
    return conn.execute(
        "SELECT date_trunc('hour', created_at) AS bucket,"
        " count(*) FILTER (WHERE decided_by = 'layer_a') AS layer_a,"
        " count(*) FILTER (WHERE route_path = 'layer_b') AS layer_b,"
        " count(*) FILTER (WHERE route_path = 'peer') AS peer,"
        " count(*) AS total FROM submissions WHERE created_at > %s GROUP BY 1 ORDER BY 1", (since,)).fetchall()
