"""Operator exports: each export's rows in its fixed order, read through a server-side cursor so that
a million rows never sit in memory (the caller iterates inside its transaction)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from uuid import uuid4

from psycopg.rows import dict_row

from chalicelib.db.pool import Connection

FETCH_ROWS = 2000  # rows per round trip of the server-side cursor

_DECISIONS = (
    "SELECT s.id AS submission_id, s.agent_id, s.kind, s.domain, s.route_path AS route, s.decided_by AS path,"
    " s.status AS outcome, s.cost_millicredits AS cost_credits, s.created_at, s.decided_at, s.title, s.body"
    " FROM submissions s WHERE s.decided_at >= %s AND s.decided_at < %s ORDER BY s.decided_at, s.id"
)
_TRENDS = (
    "SELECT day, metric, series, value FROM trend_figures WHERE day >= %s AND day <= %s"
    " ORDER BY day, metric, series"
)
_COMPLIANCE = (
    "SELECT t.created_at AS occurred_at, s.agent_id, s.id AS submission_id,"
    " CASE t.stage WHEN 'layer_a' THEN 'layer_a_block' WHEN 'admin_review' THEN 'admin_overturn'"
    " ELSE 'layer_b_flag' END AS event,"
    " ARRAY(SELECT jsonb_array_elements_text(CASE WHEN t.stage = 'layer_a'"
    " THEN COALESCE(t.verdict -> 'categories', '[]'::jsonb) ELSE '[]'::jsonb END)) AS categories"
    " FROM decision_trail t JOIN submissions s ON s.id = t.submission_id"
    " WHERE t.created_at >= %s AND t.created_at < %s AND ("
    " (t.stage = 'layer_a' AND (t.verdict ->> 'blocked')::boolean)"
    " OR (t.stage = 'admin_review' AND t.verdict -> 'overturn' ->> 'against_agent' = 'true')"
    " OR (t.stage = 'layer_b' AND t.verdict ->> 'decision' = 'flagged'))"
    " ORDER BY t.created_at, t.id"
)
_LEDGER = (
    "SELECT l.id AS leg_id, l.entry_id, l.created_at, e.kind AS entry_kind, a.code AS account, a.agent_id,"
    " l.amount AS amount_credits, l.balance_after AS balance_after_credits"
    " FROM journal_legs l JOIN journal_entries e ON e.id = l.entry_id JOIN accounts a ON a.id = l.account_id"
    " WHERE l.created_at >= %s AND l.created_at < %s ORDER BY l.id"
)


def _stream(conn: Connection, sql: str, params: tuple[Any, ...]) -> Iterator[dict[str, Any]]:
    with conn.cursor(name=f"export_{uuid4().hex[:12]}", row_factory=dict_row) as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(sql, params)
        yield from cur


def decision_rows(conn: Connection, *, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Submissions decided within [start, end), by decision time."""
    return _stream(conn, _DECISIONS, (start, end))


def trend_rows(conn: Connection, *, start: date, end: date) -> Iterator[dict[str, Any]]:
    """Stored trend figures of the days [start, end]."""
    return _stream(conn, _TRENDS, (start, end))


def compliance_rows(conn: Connection, *, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """What counts against agents' compliance within [start, end): Layer A blocks, reviewers' overturns
    against the agent, Layer B flags."""
    return _stream(conn, _COMPLIANCE, (start, end))


def ledger_rows(conn: Connection, *, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Journal legs written within [start, end), in journal order."""
    return _stream(conn, _LEDGER, (start, end))


# --- pages for export jobs: the same rows and order, read after a keyset position ------------------

_PAGES: dict[str, tuple[str, str, str]] = {
    # kind: (SELECT ... FROM ... WHERE <range>, keyset condition, ORDER BY)
    "decisions": (
        _DECISIONS.split(" ORDER BY", maxsplit=1)[0], "(s.decided_at, s.id) > (%s::timestamptz, %s::uuid)",
        "s.decided_at, s.id",
    ),
    "trends": (
        _TRENDS.split(" ORDER BY", maxsplit=1)[0], "(day, metric, series) > (%s::date, %s::text, %s::text)",
        "day, metric, series",
    ),
    "compliance": (
        _COMPLIANCE.split(" ORDER BY", maxsplit=1)[0].replace("SELECT t.created_at AS occurred_at,",
                                                   "SELECT t.id AS trail_id, t.created_at AS occurred_at,"),
        "(t.created_at, t.id) > (%s::timestamptz, %s::bigint)", "t.created_at, t.id",
    ),
    "ledger": (_LEDGER.split(" ORDER BY", maxsplit=1)[0], "l.id > %s::bigint", "l.id"),
}
_COUNTS: dict[str, str] = {
    "decisions": "SELECT count(*) AS n FROM submissions s WHERE s.decided_at >= %s AND s.decided_at < %s",
    "trends": "SELECT count(*) AS n FROM trend_figures WHERE day >= %s AND day <= %s",
    "compliance": "SELECT count(*) AS n FROM decision_trail t WHERE t.created_at >= %s AND t.created_at < %s"
                  " AND t.stage IN ('layer_a', 'admin_review', 'layer_b')",
    "ledger": "SELECT count(*) AS n FROM journal_legs l WHERE l.created_at >= %s AND l.created_at < %s",
}


def page(conn: Connection, kind: str, *, start: date | datetime, end: date | datetime,
         after: list[Any] | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of the export after the keyset position ``after`` (from the first row when
    None), in the export's order; each row also carries its key columns (compliance: ``trail_id``)."""
    select, keyset, order = _PAGES[kind]
    where = f" AND {keyset}" if after is not None else ""
    params = (start, end, *(after or ()), limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"{select}{where} ORDER BY {order} LIMIT %s", params).fetchall()


def count_rows(conn: Connection, kind: str, *, start: date | datetime, end: date | datetime) -> int:
    """An upper bound of the export's rows that reads indexes only (compliance counts every trail
    row of the stages it draws on, not just the events that count)."""
    row = conn.execute(_COUNTS[kind], (start, end)).fetchone()
    return int(row["n"]) if row else 0
