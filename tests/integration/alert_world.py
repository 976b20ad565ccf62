"""Rows that make each alert rule fire, written straight into the real database (the flows that
normally write them are tested elsewhere; here only the figures matter)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg

# The database clock drives ages (now() in SQL): the stories run at the real time.
NOW = datetime.now(UTC).replace(microsecond=0)


def execute(db: str, sql: str, *params: Any) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(sql, params)


def rows(db: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with psycopg.connect(db, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def agent(db: str, *, kind: str = "agent") -> UUID:
    agent_id = uuid4()
    execute(db, "INSERT INTO agents (id, kind, name, owner_id) VALUES (%s, %s, %s, %s)",
            agent_id, kind, f"agent-{agent_id.hex[:6]}", uuid4())
    return agent_id


def submission(db: str, author: UUID, *, created_at: datetime = NOW, status: str = "pending",
               decided_by: str | None = None, route_path: str | None = None) -> UUID:
    sub_id = uuid4()
    decided_at = None if status == "pending" else created_at
    execute(db, "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by,"
                " route_path, created_at, decided_at) VALUES (%s, %s, 'problem', 't', 'b', 'h', %s, %s, %s, %s, %s)",
            sub_id, author, status, decided_by, route_path, created_at, decided_at)
    return sub_id


def consensus_round(db: str, author: UUID, *, decided_at: datetime = NOW, cause: str = "quorum",
                    latency_ms: int | None = 1200, opened_at: datetime | None = None) -> UUID:
    sub_id = submission(db, author, created_at=decided_at - timedelta(minutes=5), status="approved",
                        decided_by="peer", route_path="peer")
    execute(db, "INSERT INTO consensus_decisions (submission_id, mode, status, layer_b_decision, layer_b_valid,"
                " assigned, opened_at, expires_at, cause, outcome, decided_by, decided_at, latency_ms, applied_verdict)"
                " VALUES (%s, 'live', 'decided', 'approved', true, 6, %s, %s, %s, 'approved', 'peer', %s, %s,"
                " 'approved')",
            sub_id, opened_at or decided_at - timedelta(minutes=5), decided_at + timedelta(minutes=25), cause,
            decided_at, latency_ms)
    return sub_id


def spot_check(db: str, author: UUID, *, completed_at: datetime = NOW, disagreement: str | None = None,
               verdict: str | None = None) -> UUID:
    sub_id = consensus_round(db, author, decided_at=completed_at - timedelta(minutes=1))
    check_id = uuid4()
    agrees = disagreement is None
    execute(db, "INSERT INTO spot_checks (id, submission_id, peer_outcome, status, layer_b_decision, agrees,"
                " disagreement, verdict, created_at, completed_at)"
                " VALUES (%s, %s, 'approved', 'completed', %s, %s, %s, %s, %s, %s)",
            check_id, sub_id, "approved" if agrees else "rejected", agrees, disagreement, verdict,
            completed_at - timedelta(minutes=1), completed_at)
    return check_id


def assignment_trail(db: str, author: UUID, *, reason: str | None, at: datetime = NOW) -> None:
    sub_id = submission(db, author, created_at=at, status="approved", decided_by="fallback", route_path="layer_b")
    verdict = {"mode": "live", "assigned": 0, "reason": reason, "applied": "layer_b_decision"}
    execute(db, "INSERT INTO decision_trail (submission_id, stage, verdict, created_at)"
                " VALUES (%s, 'assignment', %s, %s)", sub_id, json.dumps(verdict), at)


def validators(db: str, count: int) -> None:
    for _ in range(count):
        execute(db, "INSERT INTO validators (agent_id) VALUES (%s)", agent(db))


def outbox_row(db: str, *, created_at: datetime, dead_at: datetime | None = None) -> None:
    execute(db, "INSERT INTO outbox (topic, payload, created_at, available_at, dead_at, attempts)"
                " VALUES ('guardrail', '{}', %s, %s, %s, %s)",
            created_at, created_at, dead_at, 5 if dead_at else 0)


def job_run(db: str, job: str, *, started_at: datetime, ok: bool) -> None:
    execute(db, "INSERT INTO job_runs (job, started_at, finished_at, ok) VALUES (%s, %s, %s, %s)",
            job, started_at, started_at + timedelta(seconds=1), ok)


def slow_statement(db: str, *, duration_ms: float, at: datetime = NOW) -> None:
    execute(db, "INSERT INTO slow_queries (statement, duration_ms, occurred_at) VALUES (%s, %s, %s)",
            "SELECT * FROM submissions WHERE agent_id = %s", duration_ms, at)


def flag(db: str, name: str, value: Any) -> None:
    from chalicelib.adapters import flags_repo
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        flags_repo.set_flag(conn, name, value, actor="test", reason="alert story", forced=True)
    flags_repo.invalidate()


class RecordingNotifier:
    """A channel that remembers what it was asked to send, failing the first `failures` times."""

    def __init__(self, channel: str = "log", failures: int = 0) -> None:
        self.channel = channel
        self.failures = failures
        self.sent: list[Any] = []
        self.calls = 0

    def send(self, message: Any) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("channel down")
        self.sent.append(message)
