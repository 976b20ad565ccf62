"""Operators' figures on the real database: the dashboard API, worker health with scheduler runs, the
slow-query log, and the correlation id that follows a submission through every stage."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import bootstrap
from tests.integration import alert_world as w
from tests.integration.alert_world import NOW
from tests.support import admin_key, api_client, drain_outbox

GOOD = {
    "kind": "solution", "title": "Rain tanks for the school garden",
    "body": "Install two rain tanks so students can water the food garden; the school nutrition plan and the "
            "farm club grow crops for meals. Budget and a three month pilot plan are attached.",
    "domain": "food_security",
}


def test_the_dashboard_of_an_empty_system_is_all_zeros_and_unknowns(db: str) -> None:
    with api_client() as api:
        answer = api.get("/v1/admin/dashboard", key=admin_key())
    assert answer.status == 200, answer.body
    data = answer.data
    assert data["routing_split"] == {} and data["decisions_by_path"] == {}
    assert data["consensus"] == {"decisions": 0, "p50_ms": None, "p95_ms": None, "series": []}
    assert data["spot_checks"]["agreement_rate"] is None
    assert data["economy"] == [] and data["validators"] == {"active": 0}
    assert data["alerts"]["counts"] == {"open": 0, "acknowledged": 0, "critical": 0, "warning": 0}
    assert data["decision_gates"]["all_met"] is False


def test_the_dashboard_shows_routing_decisions_latency_agreement_and_alerts(db: str) -> None:
    author = w.agent(db)
    for i in range(4):
        w.consensus_round(db, author, decided_at=NOW - timedelta(minutes=10 + i), latency_ms=1000 * (i + 1))
    for i in range(4):
        w.spot_check(db, author, completed_at=NOW - timedelta(hours=1, minutes=i),
                     disagreement="false_negative" if i == 0 else None)
    w.submission(db, author, created_at=NOW - timedelta(minutes=3), status="rejected", decided_by="layer_a")
    w.outbox_row(db, created_at=NOW - timedelta(minutes=20))
    from chalicelib.services.alerts import run_engine

    run_engine(bootstrap.unit_of_work(), bootstrap.probes(), [], channels=[w.RecordingNotifier()], retry_delay_s=0)
    with api_client() as api:
        data = api.get("/v1/admin/dashboard?hours=24", key=admin_key()).data
    # 4 rounds + 4 spot-checked rounds decided by peers, one Layer A block
    assert data["decisions_by_path"] == {"peer": 8, "layer_a": 1}
    assert data["routing_split"] == {"peer": 8, "layer_a": 1}
    assert data["consensus"]["decisions"] == 8
    assert data["consensus"]["p50_ms"] == 1200 and data["consensus"]["p95_ms"] == 4000
    assert data["spot_checks"]["completed"] == 4 and data["spot_checks"]["agreement_rate"] == 0.75
    assert [a["rule"] for a in data["alerts"]["unresolved"]] == ["outbox_backlog"]
    assert data["alerts"]["counts"]["warning"] == 1


def test_worker_health_shows_backlogs_dead_letters_and_every_scheduled_job(db: str) -> None:
    from chalicelib.entrypoints.schedules import Job, run_job

    now = datetime.now(UTC)  # not the module's NOW: the age is measured against the real clock
    w.outbox_row(db, created_at=now - timedelta(minutes=7))
    w.outbox_row(db, created_at=now - timedelta(hours=2), dead_at=now - timedelta(hours=1))

    def broken() -> None:
        raise RuntimeError("the sweep could not reach its queue")

    run_job(Job("outbox_sweep", "rate(1 minute)", 60, lambda: 3))
    with pytest.raises(RuntimeError):
        run_job(Job("outbox_sweep", "rate(1 minute)", 60, broken))
    with api_client() as api:
        answer = api.get("/v1/admin/workers", key=admin_key())
    assert answer.status == 200, answer.body
    data = answer.data
    stages = {s["stage"]: s for s in data["stages"]}
    assert stages["outbox:guardrail"]["waiting"] == 1
    assert 400 < stages["outbox:guardrail"]["oldest_age_s"] < 900
    assert stages["evaluations"] == {"stage": "evaluations", "waiting": 0, "oldest_age_s": None}
    assert data["dead_letters"]["outbox"] == {"guardrail": 1}
    assert data["outbox_oldest_unsent_age_s"] > 400
    jobs = {j["job"]: j for j in data["scheduler"]}
    from chalicelib.entrypoints.schedules import JOBS

    assert set(jobs) == {j.name for j in JOBS}
    sweep = jobs["outbox_sweep"]
    assert sweep["last_ok"] is False and sweep["last_error"] == "RuntimeError: the sweep could not reach its queue"
    assert sweep["consecutive_failures"] == 1 and sweep["runs_24h"] == 2 and sweep["failures_24h"] == 1
    assert sweep["last_ok_at"] is not None and sweep["stale"] is False
    assert jobs["alert_engine"]["last_started_at"] is None  # never ran in this story
    runs = w.rows(db, "SELECT job, ok, result FROM job_runs ORDER BY id")
    assert runs == [{"job": "outbox_sweep", "ok": True, "result": 3},
                    {"job": "outbox_sweep", "ok": False, "result": None}]


def test_slow_statements_are_logged_with_their_sql_never_their_parameters(db: str) -> None:
    from chalicelib.db import timing
    from chalicelib.db.pool import transaction
    from chalicelib.observability import bind

    timing.clear_pending()
    timing.configure(20)
    try:
        with bind(correlation_id="corr-slow-1"), transaction() as conn:
            conn.execute("SELECT pg_sleep(0.03), %s::text AS secret", ("jane@example.org",))
            conn.execute("SELECT 1")
    finally:
        timing.configure(timing.DEFAULT_THRESHOLD_MS)
    [row] = w.rows(db, "SELECT statement, duration_ms, correlation_id FROM slow_queries")
    assert row["statement"] == "SELECT pg_sleep(0.03), %s::text AS secret"
    assert 30 <= row["duration_ms"] < 5000
    assert row["correlation_id"] == "corr-slow-1"
    assert timing.pending() == []


@contextmanager
def captured_logs(level: str = "INFO") -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines written meanwhile (the logger's own handler, pointed at a buffer)."""
    from chalicelib.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    lines: list[dict[str, Any]] = []
    previous_stream, previous_level = handler.setStream(buffer), logger.log_level
    logger.setLevel(level)
    try:
        yield lines
    finally:
        handler.setStream(previous_stream)
        logger.setLevel(previous_level)
        lines += [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def test_the_correlation_id_of_a_request_follows_the_submission_through_its_stages(db: str) -> None:
    with api_client() as api:
        key, _ = api.register("correlated")
        created = api.post("/v1/submissions", key=key, body=GOOD, headers={"X-Correlation-Id": "corr-story-42"})
        assert created.status == 201, created.body
        with captured_logs() as lines:
            assert drain_outbox() >= 1
    [stored] = w.rows(db, "SELECT correlation_id FROM outbox WHERE topic = 'guardrail'")
    assert stored["correlation_id"] == "corr-story-42"
    stage = [line for line in lines if line.get("message") == "guardrail stage"]
    assert stage and all(line["correlation_id"] == "corr-story-42" for line in stage)
    assert all(line.get("correlation_id") == "corr-story-42" for line in lines if "message_id" in line)


def test_an_outbox_message_without_an_explicit_id_carries_the_one_of_the_flow(db: str) -> None:
    from chalicelib.adapters import outbox
    from chalicelib.db.pool import transaction
    from chalicelib.observability import bind

    with bind(correlation_id="corr-flow-7"), transaction() as conn:
        outbox.enqueue(conn, "spot_check", {"spot_check_id": "x"})
    with transaction() as conn:
        outbox.enqueue(conn, "spot_check", {"spot_check_id": "y"})
    assert [r["correlation_id"] for r in w.rows(db, "SELECT correlation_id FROM outbox ORDER BY id")] == [
        "corr-flow-7", None]


def test_operations_history_is_purged_after_its_retention(db: str) -> None:
    from chalicelib.services.operations import purge_history

    w.job_run(db, "outbox_sweep", started_at=NOW - timedelta(days=31), ok=True)
    w.job_run(db, "outbox_sweep", started_at=NOW - timedelta(days=1), ok=True)
    w.slow_statement(db, duration_ms=600, at=NOW - timedelta(days=8))
    w.slow_statement(db, duration_ms=600, at=NOW - timedelta(days=6))
    assert purge_history(bootstrap.unit_of_work(), NOW) == {"job_runs": 1, "slow_queries": 1}
