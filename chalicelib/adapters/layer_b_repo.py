"""Layer B bookkeeping in PostgreSQL: calls and their cost, spend per day, the result cache, and
the per-domain threshold overrides with their audit trail."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.layer_b import ClassifierResult

# --- calls and spend ------------------------------------------------------------------------


def record_call(
    conn: Connection,
    *,
    submission_id: UUID | None,
    purpose: str,
    outcome: str,
    result: ClassifierResult,
    batch: bool = False,
    now: datetime,
) -> int:
    """Store one classification (a real call, or one avoided by the cache or the budget)."""
    usage = result.usage
    row = conn.execute(
        "INSERT INTO layer_b_calls (submission_id, purpose, outcome, classifier, model, batch, input_tokens,"
        " output_tokens, cache_creation_input_tokens, cache_read_input_tokens, cost_usd_micros, attempts,"
        " latency_ms, error, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (
            submission_id, purpose, outcome, result.classifier, result.model, batch, usage.input_tokens,
            usage.output_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens,
            result.cost_usd_micros, result.attempts, result.latency_ms, result.error, now,
        ),
    ).fetchone()
    assert row is not None
    return int(row["id"])


# The day's spend is the day's row in layer_b_spend_days (the alert marks, and what was spent before
# the shards existed) plus its shards in layer_b_spend_shards (migration 021): a caller adds to one
# shard, so concurrent callers rarely wait on the same row; readers sum them.
_DAY_TOTALS = """
SELECT %(day)s::date AS day,
       (coalesce(s.cost, 0) + coalesce(d.cost_usd_micros, 0))::bigint AS cost_usd_micros,
       (coalesce(s.calls, 0) + coalesce(d.calls, 0))::bigint AS calls,
       d.alerted_80_at, d.exhausted_at, s.cost IS NOT NULL OR d.day IS NOT NULL AS found
FROM (SELECT sum(cost_usd_micros) AS cost, sum(calls) AS calls FROM layer_b_spend_shards
      WHERE day = %(day)s AND shard <> %(skip)s) s
LEFT JOIN layer_b_spend_days d ON d.day = %(day)s
"""

_ADD_SPEND = """
WITH bumped AS (
    INSERT INTO layer_b_spend_shards (day, shard, cost_usd_micros, calls) VALUES (%(day)s, %(shard)s, %(cost)s, 1)
    ON CONFLICT (day, shard) DO UPDATE SET
        cost_usd_micros = layer_b_spend_shards.cost_usd_micros + EXCLUDED.cost_usd_micros,
        calls = layer_b_spend_shards.calls + 1
    RETURNING cost_usd_micros, calls
), totals AS (""" + _DAY_TOTALS + """)
SELECT t.day, t.cost_usd_micros + b.cost_usd_micros AS cost_usd_micros, t.calls + b.calls AS calls,
       t.alerted_80_at, t.exhausted_at
FROM totals t, bumped b
"""


def add_spend(conn: Connection, day: date, cost_usd_micros: int, shard: int) -> dict[str, Any]:
    """Add one call's cost to one shard of the day's spend; returns the day's totals (day,
    cost_usd_micros, calls, the alert marks) as this transaction sees them: its own shard locked until
    commit, the others as last committed."""
    row = conn.execute(_ADD_SPEND, {"day": day, "shard": shard, "skip": shard, "cost": cost_usd_micros}).fetchone()
    assert row is not None
    return row


def spend_of(conn: Connection, day: date) -> dict[str, Any] | None:
    """The day's totals over its shards and its row; None when nothing was spent or marked that day."""
    row = conn.execute(_DAY_TOTALS, {"day": day, "skip": -1}).fetchone()
    return row if row is not None and row["found"] else None


def mark_day(conn: Connection, day: date, column: str, now: datetime) -> bool:
    """Set ``alerted_80_at`` or ``exhausted_at`` once per day; True only for the caller that set it."""
    if column not in ("alerted_80_at", "exhausted_at"):
        raise ValueError(f"unknown mark {column!r}")
    conn.execute(
        "INSERT INTO layer_b_spend_days (day) VALUES (%s) ON CONFLICT (day) DO NOTHING", (day,)
    )
    row = conn.execute(
        f"UPDATE layer_b_spend_days SET {column} = %s WHERE day = %s AND {column} IS NULL RETURNING day",
        (now, day),
    ).fetchone()
    return row is not None


def spend_days(conn: Connection, since: date) -> list[dict[str, Any]]:
    """Spend per day from ``since`` on (the day's row and its shards summed), newest first."""
    return conn.execute(
        "SELECT day, sum(cost_usd_micros)::bigint AS cost_usd_micros, sum(calls)::bigint AS calls,"
        " max(alerted_80_at) AS alerted_80_at, max(exhausted_at) AS exhausted_at FROM ("
        "  SELECT day, cost_usd_micros, calls, alerted_80_at, exhausted_at FROM layer_b_spend_days"
        "  WHERE day >= %(since)s"
        "  UNION ALL"
        "  SELECT day, cost_usd_micros, calls, NULL, NULL FROM layer_b_spend_shards WHERE day >= %(since)s"
        ") t GROUP BY day ORDER BY day DESC",
        {"since": since},
    ).fetchall()


def outcome_counts(conn: Connection, since: datetime) -> dict[str, int]:
    """How many classifications since ``since`` were real calls, cache hits, or refused by the budget."""
    rows = conn.execute(
        "SELECT outcome, count(*) AS n FROM layer_b_calls WHERE created_at >= %s GROUP BY outcome", (since,)
    ).fetchall()
    return {r["outcome"]: int(r["n"]) for r in rows}


# --- result cache ---------------------------------------------------------------------------


def cache_get(conn: Connection, cache_key: str, classifier: str, model: str, now: datetime) -> Any | None:
    """The cached assessment (JSON) for this content and model, unless it has expired."""
    row = conn.execute(
        "SELECT assessment FROM layer_b_cache WHERE cache_key = %s AND classifier = %s AND model = %s"
        " AND expires_at > %s",
        (cache_key, classifier, model, now),
    ).fetchone()
    return None if row is None else row["assessment"]


def cache_put(
    conn: Connection, cache_key: str, classifier: str, model: str, assessment: dict[str, Any], *,
    now: datetime, expires_at: datetime,
) -> None:
    conn.execute(
        "INSERT INTO layer_b_cache (cache_key, classifier, model, assessment, created_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (cache_key, classifier, model) DO UPDATE SET"
        " assessment = EXCLUDED.assessment, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
        (cache_key, classifier, model, Jsonb(assessment), now, expires_at),
    )


def purge_expired_cache(conn: Connection, now: datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` expired entries (called as entries are written: no extra schedule)."""
    cur = conn.execute(
        "DELETE FROM layer_b_cache WHERE ctid IN"
        " (SELECT ctid FROM layer_b_cache WHERE expires_at <= %s LIMIT %s)",
        (now, limit),
    )
    return cur.rowcount


# --- threshold overrides --------------------------------------------------------------------

_THRESHOLD_COLUMNS = ("approve", "flag", "harm_warn", "harm_block")


def threshold_overrides(conn: Connection, domains: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Overrides by domain (all of them, or those of ``domains``)."""
    if domains is None:
        rows = conn.execute("SELECT * FROM layer_b_thresholds ORDER BY domain").fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM layer_b_thresholds WHERE domain = ANY(%s) ORDER BY domain", (domains,)
        ).fetchall()
    return {r["domain"]: r for r in rows}


def threshold_override(conn: Connection, domain: str, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM layer_b_thresholds WHERE domain = %s" + lock, (domain,)).fetchone()


def put_threshold_override(
    conn: Connection, domain: str, values: dict[str, float], *, actor: str, now: datetime
) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO layer_b_thresholds (domain, approve, flag, harm_warn, harm_block, updated_by, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (domain) DO UPDATE SET approve = EXCLUDED.approve,"
        " flag = EXCLUDED.flag, harm_warn = EXCLUDED.harm_warn, harm_block = EXCLUDED.harm_block,"
        " updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at RETURNING *",
        (domain, *(values[c] for c in _THRESHOLD_COLUMNS), actor, now),
    ).fetchone()
    assert row is not None
    return row


def delete_threshold_override(conn: Connection, domain: str) -> bool:
    return conn.execute("DELETE FROM layer_b_thresholds WHERE domain = %s", (domain,)).rowcount == 1


def add_threshold_change(
    conn: Connection, domain: str, *, old: dict[str, float] | None, new: dict[str, float] | None, reason: str,
    actor: str, now: datetime,
) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO layer_b_threshold_changes (domain, old_value, new_value, reason, actor, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
        (domain, None if old is None else Jsonb(old), None if new is None else Jsonb(new), reason, actor, now),
    ).fetchone()
    assert row is not None
    return row


def threshold_changes(
    conn: Connection, *, domain: str | None, limit: int, before: tuple[datetime, str] | None
) -> list[dict[str, Any]]:
    """Audited changes, newest first, keyset-paged on (created_at, id)."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if domain is not None:
        where.append("domain = %s")
        params.append(domain)
    if before is not None:
        where.append("(created_at, id) < (%s, %s::bigint)")
        params += [before[0], before[1]]
    return conn.execute(
        "SELECT * FROM layer_b_threshold_changes WHERE " + " AND ".join(where)
        + " ORDER BY created_at DESC, id DESC LIMIT %s",
        [*params, limit],
    ).fetchall()
