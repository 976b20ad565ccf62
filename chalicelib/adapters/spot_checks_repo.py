"""Spot checks in PostgreSQL, and the Layer B message batches that run them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.routing import SPOT_CHECK_OPEN_STATUSES as OPEN_STATUSES


def create(conn: Connection, submission_id: UUID, *, peer_outcome: str, now: datetime) -> UUID | None:
    """Queue a spot check of a peer decision; None if the submission already has one."""
    row = conn.execute(
        "INSERT INTO spot_checks (submission_id, peer_outcome, created_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (submission_id) DO NOTHING RETURNING id",
        (submission_id, peer_outcome, now),
    ).fetchone()
    return row["id"] if row else None


def get(conn: Connection, spot_check_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM spot_checks WHERE id = %s" + lock, (spot_check_id,)).fetchone()


def claim(
    conn: Connection, now: datetime, *, ids: Sequence[UUID] | None = None, limit: int, stale_after: timedelta,
) -> list[dict[str, Any]]:
    """Claim waiting spot checks (pending, or stuck in ``submitting``) with their submission's content.

    Claimed rows move to ``submitting``; rows another transaction holds are skipped.
    """
    id_filter = " AND c.id = ANY(%(ids)s)" if ids is not None else ""
    return conn.execute(
        "WITH due AS ("
        "  SELECT c.id FROM spot_checks c WHERE (c.status = 'pending'"
        "    OR (c.status = 'submitting' AND c.claimed_at < %(stale)s))" + id_filter
        + "  ORDER BY c.created_at, c.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " UPDATE spot_checks c SET status = 'submitting', claimed_at = %(now)s FROM due, submissions s"
        " WHERE c.id = due.id AND s.id = c.submission_id"
        " RETURNING c.id, c.submission_id, c.peer_outcome, s.kind, s.title, s.body, s.domain",
        {"ids": list(ids) if ids is not None else None, "stale": now - stale_after, "limit": limit, "now": now},
    ).fetchall()


def release(conn: Connection, ids: Sequence[UUID]) -> None:
    if ids:
        conn.execute(
            "UPDATE spot_checks SET status = 'pending', claimed_at = NULL WHERE id = ANY(%s)"
            " AND status = 'submitting'",
            (list(ids),),
        )


def mark_batched(conn: Connection, ids: Sequence[UUID], batch_id: str) -> None:
    conn.execute(
        "UPDATE spot_checks SET status = 'batched', batch_id = %s WHERE id = ANY(%s) AND status = 'submitting'",
        (batch_id, list(ids)),
    )


def complete(
    conn: Connection, spot_check_id: UUID, *, layer_b_decision: str, result: dict[str, Any], agrees: bool,
    disagreement: str | None, now: datetime,
) -> bool:
    """Record Layer B's re-evaluation once; False if the spot check was no longer open."""
    cur = conn.execute(
        "UPDATE spot_checks SET status = 'completed', layer_b_decision = %s, layer_b_result = %s, agrees = %s,"
        " disagreement = %s, completed_at = %s, error = NULL WHERE id = %s AND status = ANY(%s)",
        (layer_b_decision, Jsonb(result), agrees, disagreement, now, spot_check_id, list(OPEN_STATUSES)),
    )
    return cur.rowcount == 1


def fail(conn: Connection, spot_check_id: UUID, *, error: str, result: dict[str, Any] | None, now: datetime) -> bool:
    cur = conn.execute(
        "UPDATE spot_checks SET status = 'failed', error = %s, layer_b_result = %s, completed_at = %s"
        " WHERE id = %s AND status = ANY(%s)",
        (error[:500], Jsonb(result) if result is not None else None, now, spot_check_id, list(OPEN_STATUSES)),
    )
    return cur.rowcount == 1


def link_review_item(conn: Connection, spot_check_id: UUID, item_id: UUID) -> None:
    conn.execute("UPDATE spot_checks SET review_item_id = %s WHERE id = %s", (item_id, spot_check_id))


def set_verdict(
    conn: Connection, spot_check_id: UUID, *, verdict: str, notes: str | None, actor: str, now: datetime
) -> None:
    conn.execute(
        "UPDATE spot_checks SET verdict = %s, verdict_notes = %s, verdict_by = %s, verdict_at = %s WHERE id = %s",
        (verdict, notes, actor, now, spot_check_id),
    )


def resolve_review_item(conn: Connection, item_id: UUID, *, resolution: str, notes: str | None, actor: str,
                        now: datetime) -> None:
    """Close the review item a disagreement opened, once an admin has given the verdict."""
    conn.execute(
        "UPDATE review_items SET status = 'reviewed', resolution = %s, notes = %s, resolved_by = %s,"
        " resolved_at = %s WHERE id = %s AND status IN ('pending', 'claimed')",
        (resolution, notes, actor, now, item_id),
    )


def page(
    conn: Connection, *, limit: int, before: tuple[datetime, str] | None, status: str | None,
    disagreement_only: bool,
) -> list[dict[str, Any]]:
    """Newest first, keyset on (created_at, id) — the cursor compares the same pair the order uses."""
    params: list[Any] = []
    where = ["TRUE"]
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if disagreement_only:
        where.append("agrees = false")
    if before is not None:
        where.append("(created_at, id) < (%s, %s::uuid)")
        params += [before[0], before[1]]
    params.append(limit)
    return conn.execute(
        "SELECT * FROM spot_checks WHERE " + " AND ".join(where) + " ORDER BY created_at DESC, id DESC LIMIT %s",
        params,
    ).fetchall()


def stats(conn: Connection, since: datetime) -> dict[str, Any]:
    row = conn.execute(
        "SELECT count(*) AS total,"
        " count(*) FILTER (WHERE status IN ('pending', 'submitting', 'batched')) AS open,"
        " count(*) FILTER (WHERE status = 'completed') AS completed,"
        " count(*) FILTER (WHERE status = 'failed') AS failed,"
        " count(*) FILTER (WHERE agrees) AS agreements,"
        " count(*) FILTER (WHERE disagreement = 'false_negative') AS false_negative,"
        " count(*) FILTER (WHERE disagreement = 'false_positive') AS false_positive,"
        " count(*) FILTER (WHERE disagreement = 'missed_flag') AS missed_flag,"
        " count(*) FILTER (WHERE disagreement = 'false_negative' AND verdict IS DISTINCT FROM 'peer_correct')"
        "   AS confirmed_false_negative,"
        " count(*) FILTER (WHERE verdict = 'peer_correct') AS peer_correct,"
        " count(*) FILTER (WHERE verdict = 'layer_b_correct') AS layer_b_correct,"
        " count(*) FILTER (WHERE agrees = false AND verdict IS NULL) AS awaiting_verdict,"
        " min(completed_at) FILTER (WHERE status = 'completed') AS first_completed"
        " FROM spot_checks WHERE created_at >= %s",
        (since,),
    ).fetchone()
    assert row is not None
    return dict(row)


# --- Layer B message batches ------------------------------------------------------------------


def insert_batch(conn: Connection, batch_id: str, *, items: int, now: datetime) -> None:
    conn.execute(
        "INSERT INTO layer_b_batches (id, items, submitted_at) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (batch_id, items, now),
    )


def processing_batches(conn: Connection, *, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM layer_b_batches WHERE status = 'processing' ORDER BY submitted_at LIMIT %s", (limit,)
    ).fetchall()


def lock_batch(conn: Connection, batch_id: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM layer_b_batches WHERE id = %s AND status = 'processing' FOR UPDATE SKIP LOCKED", (batch_id,)
    ).fetchone()


def note_poll(conn: Connection, batch_id: str, error: str | None) -> None:
    conn.execute(
        "UPDATE layer_b_batches SET polls = polls + 1, last_error = %s WHERE id = %s",
        (error[:500] if error else None, batch_id),
    )


def end_batch(conn: Connection, batch_id: str, now: datetime) -> None:
    conn.execute(
        "UPDATE layer_b_batches SET status = 'ended', collected_at = %s, polls = polls + 1 WHERE id = %s",
        (now, batch_id),
    )


def in_batch(conn: Connection, batch_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM spot_checks WHERE batch_id = %s AND status = 'batched' ORDER BY id FOR UPDATE", (batch_id,)
    ).fetchall()


def release_stale_claims(conn: Connection, claimed_before: datetime) -> list[UUID]:
    """Claims left in ``submitting`` since before `claimed_before` go back to pending; their ids."""
    rows = conn.execute(
        "UPDATE spot_checks SET status = 'pending', claimed_at = NULL"
        " WHERE status = 'submitting' AND claimed_at < %s RETURNING id",
        (claimed_before,),
    ).fetchall()
    return [r["id"] for r in rows]
