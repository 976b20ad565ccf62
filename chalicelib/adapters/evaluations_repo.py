"""Peer reviews in PostgreSQL: one consensus row per submission, its evaluations, shadow comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection


def lock_submission(conn: Connection, submission_id: UUID) -> None:
    """Serialise everything that may complete or decide this submission's consensus (until commit)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s::text, 0))", (str(submission_id),))


# --- consensus rows ---------------------------------------------------------------------------


def open_review(
    conn: Connection, submission_id: UUID, *, mode: str, layer_b_decision: str, layer_b_valid: bool,
    assigned: int, now: datetime, expires_at: datetime,
) -> bool:
    """Open the submission's peer review; False if one was opened before (assignment is idempotent)."""
    row = conn.execute(
        "INSERT INTO consensus_decisions (submission_id, mode, layer_b_decision, layer_b_valid, assigned,"
        " opened_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (submission_id) DO NOTHING RETURNING submission_id",
        (submission_id, mode, layer_b_decision, layer_b_valid, assigned, now, expires_at),
    ).fetchone()
    return row is not None


def get_review(conn: Connection, submission_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute(
        "SELECT * FROM consensus_decisions WHERE submission_id = %s" + lock, (submission_id,)
    ).fetchone()


def mark_quorum(conn: Connection, submission_id: UUID, now: datetime) -> None:
    conn.execute(
        "UPDATE consensus_decisions SET quorum_reached_at = %s WHERE submission_id = %s"
        " AND quorum_reached_at IS NULL",
        (now, submission_id),
    )


def record_decision(conn: Connection, submission_id: UUID, values: dict[str, Any]) -> None:
    columns = list(values)
    assignments = ", ".join(f"{c} = %s" for c in columns)
    params = [Jsonb(values[c]) if c == "arithmetic" else values[c] for c in columns]
    conn.execute(
        f"UPDATE consensus_decisions SET status = 'decided', {assignments} WHERE submission_id = %s",
        [*params, submission_id],
    )


def set_truth(conn: Connection, submission_id: UUID, column: str, verdict: str) -> None:
    if column not in ("truth_spot_check", "truth_admin"):
        raise ValueError(f"not a ground-truth column: {column}")
    conn.execute(
        f"UPDATE consensus_decisions SET {column} = %s WHERE submission_id = %s", (verdict, submission_id)
    )


def due_reviews(conn: Connection, now: datetime, *, limit: int) -> list[UUID]:
    """Open reviews past their expiry: quorum timeouts to resolve."""
    rows = conn.execute(
        "SELECT submission_id FROM consensus_decisions WHERE status = 'open' AND expires_at <= %s"
        " ORDER BY expires_at LIMIT %s",
        (now, limit),
    ).fetchall()
    return [r["submission_id"] for r in rows]


def recent_reviewers(conn: Connection, submitter_id: UUID, *, exclude: UUID, submissions: int) -> set[str]:
    """Validators assigned to the submitter's last ``submissions`` submissions before this one.

    The window counts every earlier submission, reviewed by peers or not: a submission nobody
    could review still moves the window on (otherwise the same reviewers would sit out forever).
    """
    rows = conn.execute(
        "SELECT DISTINCT e.validator_id FROM evaluations e WHERE e.submission_id IN ("
        "  SELECT s.id FROM submissions s WHERE s.agent_id = %(agent)s AND s.id <> %(this)s"
        "  AND (s.created_at, s.id) < (SELECT created_at, id FROM submissions WHERE id = %(this)s)"
        "  ORDER BY s.created_at DESC, s.id DESC LIMIT %(n)s)",
        {"agent": submitter_id, "this": exclude, "n": submissions},
    ).fetchall()
    return {str(r["validator_id"]) for r in rows}


# --- evaluations ------------------------------------------------------------------------------


def insert_evaluations(
    conn: Connection, submission_id: UUID, picks: Sequence[tuple[UUID, str]], *, mode: str, now: datetime,
    expires_at: datetime,
) -> list[UUID]:
    """One pending evaluation per (validator, tier at assignment), all in one statement; duplicates are
    ignored. The new ids come back in the order of ``picks``."""
    if not picks:
        return []
    rows = conn.execute(
        "INSERT INTO evaluations (submission_id, validator_id, mode, tier_at_assignment, assigned_at, expires_at)"
        " SELECT %s, p.validator_id, %s, p.tier, %s, %s FROM unnest(%s::uuid[], %s::text[]) WITH ORDINALITY"
        "  AS p(validator_id, tier, n) ORDER BY p.n"
        " ON CONFLICT (submission_id, validator_id) DO NOTHING RETURNING id, validator_id",
        (submission_id, mode, now, expires_at, [v for v, _ in picks], [t for _, t in picks]),
    ).fetchall()
    by_validator = {r["validator_id"]: r["id"] for r in rows}
    return [by_validator[v] for v, _ in picks if v in by_validator]


def get_evaluation(conn: Connection, evaluation_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM evaluations WHERE id = %s" + lock, (evaluation_id,)).fetchone()


def for_submission(conn: Connection, submission_id: UUID, *, for_update: bool = False) -> list[dict[str, Any]]:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute(
        "SELECT * FROM evaluations WHERE submission_id = %s ORDER BY assigned_at, id" + lock, (submission_id,)
    ).fetchall()


# The advisory lock of the evaluation's submission (lock_submission's) is taken in `target`, before
# the evaluation's row lock: LockRows sits on top of the plan, so a row is locked only once the join
# with `target` has produced it, and the lock order (submission, then evaluation rows) is the one the
# consensus stage takes. A row answered meanwhile comes back in its newest version (FOR UPDATE).
_GET_FOR_ANSWER = """
WITH target AS MATERIALIZED (
    SELECT submission_id, pg_advisory_xact_lock(hashtextextended(submission_id::text, 0)) AS locked
    FROM evaluations WHERE id = %(id)s
)
SELECT e.*, s.agent_id AS submitter_id, s.correlation_id AS submission_correlation_id
FROM target t
JOIN evaluations e ON e.id = %(id)s AND e.submission_id = t.submission_id
JOIN submissions s ON s.id = e.submission_id
FOR UPDATE OF e
"""


def get_for_answer(conn: Connection, evaluation_id: UUID) -> dict[str, Any] | None:
    """Everything answering needs, in one statement: the evaluation row-locked, its submission's
    author (``submitter_id``) and correlation id (``submission_correlation_id``), with the
    submission's advisory lock (lock_submission's) taken first. None for an unknown evaluation."""
    return conn.execute(_GET_FOR_ANSWER, {"id": evaluation_id}).fetchone()


def answer(
    conn: Connection, evaluation_id: UUID, *, decision: str, confidence: float, reasoning: str,
    safety_flagged: bool, now: datetime,
) -> dict[str, Any] | None:
    """Answer a pending evaluation; returns the answered row (None if it was not pending) with
    ``answered``: how many of its submission's evaluations are answered now, this one included.

    The count is read in the same statement, from the statement's snapshot (which does not see
    this row's own change, hence the + 1): exact while the caller holds the submission's lock
    (lock_submission, get_for_answer), which every answer and decision of the submission takes."""
    return conn.execute(
        "UPDATE evaluations e SET status = 'answered', decision = %s, confidence = %s, reasoning = %s,"
        " safety_flagged = %s, responded_at = %s, closed_at = %s WHERE e.id = %s AND e.status = 'pending'"
        " RETURNING e.*, 1 + (SELECT count(*) FROM evaluations o WHERE o.submission_id = e.submission_id"
        "  AND o.status = 'answered') AS answered",
        (decision, confidence, reasoning, safety_flagged, now, now, evaluation_id),
    ).fetchone()


def close_pending(conn: Connection, submission_id: UUID, *, status: str, now: datetime) -> list[dict[str, Any]]:
    """Close the submission's pending evaluations as ``expired`` or ``cancelled``; returns them."""
    return conn.execute(
        "UPDATE evaluations SET status = %s, closed_at = %s WHERE submission_id = %s AND status = 'pending'"
        " RETURNING id, validator_id, tier_at_assignment, assigned_at, status",
        (status, now, submission_id),
    ).fetchall()


def expire_due(conn: Connection, now: datetime, *, limit: int) -> list[dict[str, Any]]:
    """Expire pending evaluations past their deadline (skipping rows another transaction holds)."""
    return conn.execute(
        "UPDATE evaluations SET status = 'expired', closed_at = %(now)s WHERE id IN ("
        "  SELECT id FROM evaluations WHERE status = 'pending' AND expires_at <= %(now)s"
        "  ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " RETURNING id, validator_id, submission_id",
        {"now": now, "limit": limit},
    ).fetchall()


def set_truth_on_answers(
    conn: Connection, submission_id: UUID, *, truth: str, source: str, now: datetime
) -> list[UUID]:
    """Give the submission's answered evaluations their (best) ground truth; returns affected validators.

    The first truth stamps ``scored_at`` (it orders the F1 window); a better one later only replaces
    the verdict, so an evaluation is counted once however its truth improves.
    """
    rows = conn.execute(
        "UPDATE evaluations SET truth = %s, truth_source = %s, scored_at = COALESCE(scored_at, %s)"
        " WHERE submission_id = %s AND status = 'answered'"
        "   AND (truth IS DISTINCT FROM %s OR truth_source IS DISTINCT FROM %s)"
        " RETURNING validator_id",
        (truth, source, now, submission_id, truth, source),
    ).fetchall()
    return sorted({r["validator_id"] for r in rows}, key=str)


def record_reward(conn: Connection, evaluation_id: UUID, millicredits: int) -> None:
    conn.execute("UPDATE evaluations SET reward_millicredits = %s WHERE id = %s", (millicredits, evaluation_id))


def record_rewards(conn: Connection, rewards: Sequence[tuple[UUID, int]]) -> None:
    """Record (evaluation id, millicredits paid) for several evaluations in one statement."""
    if not rewards:
        return
    conn.execute(
        "UPDATE evaluations e SET reward_millicredits = r.paid"
        " FROM unnest(%s::uuid[], %s::bigint[]) AS r(id, paid) WHERE e.id = r.id",
        ([e for e, _ in rewards], [p for _, p in rewards]),
    )


def pending_for_validator(
    conn: Connection, validator_id: UUID, now: datetime, *, limit: int, after: tuple[datetime, str] | None,
) -> list[dict[str, Any]]:
    """The validator's open evaluations with the content to judge, oldest first, keyset on (assigned_at, id)."""
    params: list[Any] = [validator_id, now]
    where = ""
    if after is not None:
        where = " AND (e.assigned_at, e.id) > (%s, %s::uuid)"
        params += [after[0], after[1]]
    params.append(limit)
    return conn.execute(
        "SELECT e.id, e.submission_id, e.mode, e.assigned_at, e.expires_at, s.kind, s.title, s.body, s.domain,"
        " s.latitude, s.longitude FROM evaluations e JOIN submissions s ON s.id = e.submission_id"
        " WHERE e.validator_id = %s AND e.status = 'pending' AND e.expires_at > %s" + where
        + " ORDER BY e.assigned_at, e.id LIMIT %s",
        params,
    ).fetchall()


# --- shadow comparisons -----------------------------------------------------------------------


def record_comparison(
    conn: Connection, submission_id: UUID, *, outcome: str, layer_b_decision: str, agrees: bool, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO shadow_comparisons (submission_id, consensus_outcome, layer_b_decision, agrees, created_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (submission_id) DO NOTHING",
        (submission_id, outcome, layer_b_decision, agrees, now),
    )


def shadow_agreement(conn: Connection, since: datetime) -> tuple[int, int]:
    """(agreements, comparisons) since ``since``."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE agrees) AS agreements, count(*) AS comparisons"
        " FROM shadow_comparisons WHERE created_at >= %s",
        (since,),
    ).fetchone()
    assert row is not None
    return int(row["agreements"]), int(row["comparisons"])


def consensus_stats(conn: Connection, since: datetime) -> dict[str, Any]:
    """Decided rounds since ``since``: counts by mode, cause and outcome, and the latencies."""
    rows = conn.execute(
        "SELECT mode, cause, outcome, decided_by, latency_ms FROM consensus_decisions"
        " WHERE status = 'decided' AND decided_at >= %s",
        (since,),
    ).fetchall()
    return {
        "rounds": len(rows),
        "timeouts": sum(1 for r in rows if r["cause"] == "timeout"),
        "latencies_ms": [int(r["latency_ms"]) for r in rows if r["latency_ms"] is not None],
        "by_outcome": _count(rows, "outcome"),
        "by_mode": _count(rows, "mode"),
        "by_decided_by": _count([r for r in rows if r["decided_by"]], "decided_by"),
    }


def _count(rows: Sequence[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[key]] = counts.get(r[key], 0) + 1
    return counts


def shared_reviews(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Answered evaluations since ``since`` with the ground truth of their submission (collusion input)."""
    return conn.execute(
        "SELECT submission_id, validator_id, decision, truth FROM evaluations"
        " WHERE status = 'answered' AND responded_at >= %s ORDER BY responded_at, id",
        (since,),
    ).fetchall()


def answered_since(conn: Connection, since: datetime) -> int:
    """Answered evaluations since ``since`` (repeated reviews of a submission each count)."""
    row = conn.execute(
        "SELECT count(*) AS n FROM evaluations WHERE status = 'answered' AND responded_at >= %s", (since,)
    ).fetchone()
    return int(row["n"]) if row else 0


def collusive_pairs(
    conn: Connection, since: datetime, *, against_truth: bool, min_shared: int, threshold: float, limit: int,
) -> list[dict[str, Any]]:
    """Validator pairs (a < b) agreeing on more than ``threshold`` of at least ``min_shared`` shared
    reviews answered since ``since``, counted in the database; at most ``limit`` rows, ordered by
    agreement, then shared reviews (both descending), then ids: the rule of domain/collusion.py.

    A validator's last review of a submission counts. ``against_truth``: only shared reviews of
    submissions with a ground truth where at least one of the pair decided against it.
    """
    return conn.execute(
        "WITH latest AS MATERIALIZED ("
        "  SELECT DISTINCT ON (submission_id, validator_id) submission_id, validator_id, decision,"
        "   decision = 'approve' AS approves, truth"
        "  FROM evaluations WHERE status = 'answered' AND responded_at >= %(since)s"
        "  ORDER BY submission_id, validator_id, responded_at DESC, id DESC"
        "), shared AS ("
        "  SELECT x.validator_id AS a, y.validator_id AS b, count(*) AS shared,"
        "   count(*) FILTER (WHERE x.decision = y.decision) AS agreed"
        "  FROM latest x JOIN latest y ON y.submission_id = x.submission_id AND y.validator_id > x.validator_id"
        "  WHERE NOT %(against)s OR (coalesce(x.truth, y.truth) IS NOT NULL"
        "   AND NOT ((coalesce(x.truth, y.truth) = 'approved') = x.approves"
        "            AND (coalesce(x.truth, y.truth) = 'approved') = y.approves))"
        "  GROUP BY 1, 2"
        "  HAVING count(*) >= %(min_shared)s"
        "   AND count(*) FILTER (WHERE x.decision = y.decision)::float8 / count(*) > %(threshold)s"
        ")"
        " SELECT a::text AS a, b::text AS b, shared, agreed::float8 / shared AS agreement FROM shared"
        " ORDER BY agreement DESC, shared DESC, a, b LIMIT %(limit)s",
        {"since": since, "against": against_truth, "min_shared": min_shared, "threshold": threshold,
         "limit": limit},
    ).fetchall()


def shadow_matrix(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Shadow comparisons since `since` by (consensus outcome, Layer B decision): count and agreements."""
    return conn.execute(
        "SELECT consensus_outcome, layer_b_decision, count(*) AS n, count(*) FILTER (WHERE agrees) AS agree"
        " FROM shadow_comparisons WHERE created_at >= %s GROUP BY 1, 2 ORDER BY 1, 2",
        (since,),
    ).fetchall()
