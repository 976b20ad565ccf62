"""What the compliance score counts, read from submissions and their decision trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from chalicelib.db.pool import Connection


def layer_a_blocks(conn: Connection, agent_id: UUID, *, since: datetime, until: datetime) -> int:
    """Submissions of the agent that Layer A blocked within (since, until], leaving out the blocks
    a reviewer overturned (an admin review approving what Layer A rejected: a false positive)."""
    row = conn.execute(
        "SELECT count(*) AS n FROM submissions s WHERE s.agent_id = %s AND s.decided_by = 'layer_a'"
        " AND s.decided_at > %s AND s.decided_at <= %s"
        " AND NOT EXISTS (SELECT 1 FROM decision_trail t WHERE t.submission_id = s.id AND t.stage = 'admin_review'"
        " AND t.verdict -> 'overturn' ->> 'decided_by' = 'layer_a' AND t.verdict -> 'overturn' ->> 'to' = 'approved')",
        (agent_id, since, until),
    ).fetchone()
    return int(row["n"]) if row else 0


def admin_overturns_against(conn: Connection, agent_id: UUID, *, since: datetime, until: datetime) -> int:
    """Reviewer verdicts within (since, until] that rejected what the machines had approved."""
    row = conn.execute(
        "SELECT count(*) AS n FROM decision_trail t JOIN submissions s ON s.id = t.submission_id"
        " WHERE s.agent_id = %s AND t.stage = 'admin_review' AND t.created_at > %s AND t.created_at <= %s"
        " AND t.verdict -> 'overturn' ->> 'against_agent' = 'true'",
        (agent_id, since, until),
    ).fetchone()
    return int(row["n"]) if row else 0


def flagged_layer_b_verdicts(
    conn: Connection, agent_id: UUID, *, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The Layer B trail entries within (since, until] that flagged one of the agent's submissions."""
    rows = conn.execute(
        "SELECT t.verdict FROM decision_trail t JOIN submissions s ON s.id = t.submission_id"
        " WHERE s.agent_id = %s AND t.stage = 'layer_b' AND t.created_at > %s AND t.created_at <= %s"
        " AND t.verdict ->> 'decision' = 'flagged'",
        (agent_id, since, until),
    ).fetchall()
    return [r["verdict"] for r in rows]


def evidence(
    conn: Connection, agent_id: UUID, *, since: datetime, until: datetime
) -> tuple[int, int, list[dict[str, Any]]]:
    """The three readings above in one statement (one round trip), for the stages that score an agent
    on every message: (layer_a_blocks, admin_overturns_against, flagged_layer_b_verdicts)."""
    return evidence_many(conn, [agent_id], since=since, until=until)[agent_id]


def evidence_many(
    conn: Connection, agent_ids: Sequence[UUID], *, since: datetime, until: datetime
) -> dict[UUID, tuple[int, int, list[dict[str, Any]]]]:
    """`evidence` of several agents in one statement (the validators an assignment picks)."""
    rows = conn.execute(
        "SELECT a.id AS agent_id,"
        " (SELECT count(*) FROM submissions s WHERE s.agent_id = a.id AND s.decided_by = 'layer_a'"
        "   AND s.decided_at > %(since)s AND s.decided_at <= %(until)s"
        "   AND NOT EXISTS (SELECT 1 FROM decision_trail t WHERE t.submission_id = s.id"
        "   AND t.stage = 'admin_review' AND t.verdict -> 'overturn' ->> 'decided_by' = 'layer_a'"
        "   AND t.verdict -> 'overturn' ->> 'to' = 'approved')) AS blocks,"
        " (SELECT count(*) FROM decision_trail t JOIN submissions s ON s.id = t.submission_id"
        "   WHERE s.agent_id = a.id AND t.stage = 'admin_review' AND t.created_at > %(since)s"
        "   AND t.created_at <= %(until)s AND t.verdict -> 'overturn' ->> 'against_agent' = 'true') AS overturns,"
        " ARRAY(SELECT t.verdict FROM decision_trail t JOIN submissions s ON s.id = t.submission_id"
        "   WHERE s.agent_id = a.id AND t.stage = 'layer_b' AND t.created_at > %(since)s"
        "   AND t.created_at <= %(until)s AND t.verdict ->> 'decision' = 'flagged') AS flagged"
        " FROM unnest(%(agents)s::uuid[]) AS a(id)",
        {"agents": list(agent_ids), "since": since, "until": until},
    ).fetchall()
    return {r["agent_id"]: (int(r["blocks"]), int(r["overturns"]), list(r["flagged"] or [])) for r in rows}
