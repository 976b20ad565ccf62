"""Operations: the figures operators and the alert engine read, worker health, the dashboard, and the
record of scheduled job runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain import alert_rules
from chalicelib.domain.gates import percentile
from chalicelib.domain.jobs import JobSummary
from chalicelib.observability import emit, logger
from chalicelib.services import validator_reports
from chalicelib.services.ports import OperationalProbes
from chalicelib.services.unit_of_work import UnitOfWork

DLQ_STATE = "dlq_depths"
JOB_RUN_RETENTION = timedelta(days=30)
SLOW_QUERY_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class Figures:
    """Everything the alert rules and the gauges need, read at one moment."""

    now: datetime
    false_negatives: tuple[int, int]
    consensus_latencies_ms: list[float]
    spot_checks: tuple[int, int]
    quorum: tuple[int, int]
    active_validators: int
    peer_validation_enabled: bool
    insufficient_validators: tuple[int, int]
    dead_outbox_last_hour: int
    dead_outbox_total: int
    dlq_depths: dict[str, int | None]
    previous_dlq_depths: dict[str, int]
    pool: tuple[int, int]  # (in use, maximum) of this process's pool
    server_connections: tuple[int, int]  # (in use, maximum) of the database server
    slow_statements: list[dict[str, Any]]
    outbox_oldest_age_s: float | None
    oldest_pending_evaluation_s: float | None
    jobs: dict[str, JobSummary]
    economy: dict[str, Any] | None
    open_alerts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def read_figures(uow: UnitOfWork, probes: OperationalProbes, *, now: datetime | None = None,
                 dlq_client: Any = None) -> Figures:
    """Read the figures in one transaction (plus the SQS dead-letter depths in AWS)."""
    now = now or datetime.now(UTC)
    dlq = probes.dead_letter_depths(dlq_client)
    with uow:
        backlogs = {b["stage"]: b for b in uow.operations.stage_backlogs()}
        recent_dead, total_dead = uow.operations.dead_outbox(now - timedelta(hours=1))
        previous = uow.operations.get_state(DLQ_STATE) or {}
        figures = Figures(
            now=now,
            false_negatives=uow.operations.false_negative_figures(now - alert_rules.FALSE_NEGATIVE_WINDOW),
            consensus_latencies_ms=uow.operations.consensus_latencies(now - alert_rules.CONSENSUS_WINDOW),
            spot_checks=uow.operations.spot_check_figures(now - alert_rules.SPOT_CHECK_WINDOW),
            quorum=uow.operations.quorum_figures(now - alert_rules.QUORUM_WINDOW),
            active_validators=uow.operations.active_validators(now),
            peer_validation_enabled=bool(uow.flags.current().get("PEER_VALIDATION_ENABLED", False)),
            insufficient_validators=uow.operations.insufficient_validator_figures(
                now - alert_rules.INSUFFICIENT_WINDOW),
            dead_outbox_last_hour=recent_dead,
            dead_outbox_total=total_dead,
            dlq_depths=dlq,
            previous_dlq_depths={str(k): int(v) for k, v in previous.items()},
            pool=_pool_usage(probes),
            server_connections=uow.operations.server_connections(),
            slow_statements=uow.operations.slow_statements(now - alert_rules.SLOW_QUERY_WINDOW),
            outbox_oldest_age_s=uow.outbox.oldest_unsent_age_seconds(),
            oldest_pending_evaluation_s=(backlogs.get("evaluations") or {}).get("oldest_age_s"),
            jobs=uow.operations.job_summaries(now - timedelta(hours=24)),
            economy=uow.operations.latest_economy_snapshot(),
            open_alerts=sum(v for k, v in uow.alerts.counts().items() if k in ("open", "acknowledged")),
        )
        known = {q: d for q, d in dlq.items() if d is not None}
        if known:
            uow.operations.set_state(DLQ_STATE, {**figures.previous_dlq_depths, **known})
    return figures


def _pool_usage(probes: OperationalProbes) -> tuple[int, int]:
    stats = probes.pool_stats()
    if not stats:
        return 0, 0
    in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
    return max(in_use, 0), stats.get("pool_max", 0)


def evaluate_rules(figures: Figures, jobs: Sequence[tuple[str, int]]) -> list[alert_rules.Check]:
    """Run every operational rule over the figures."""
    worst_pool = max(figures.pool, figures.server_connections, key=lambda p: p[0] / p[1] if p[1] else 0.0)
    slowest = figures.slow_statements[0]["statement"] if figures.slow_statements else None
    job_health = [
        alert_rules.JobHealth(name, every, s.last_ok_at if s else None, s.first_seen_at if s else None,
                              s.consecutive_failures if s else 0)
        for name, every in jobs
        for s in [figures.jobs.get(name)]
    ]
    return [
        alert_rules.false_negatives(*figures.false_negatives),
        alert_rules.consensus_latency(figures.consensus_latencies_ms),
        alert_rules.spot_check_disagreement(*figures.spot_checks),
        alert_rules.quorum_failures(*figures.quorum),
        alert_rules.validator_pool(figures.active_validators, peer_validation_enabled=figures.peer_validation_enabled),
        alert_rules.insufficient_validators(*figures.insufficient_validators),
        alert_rules.dlq_growth(figures.dlq_depths, figures.previous_dlq_depths, figures.dead_outbox_last_hour),
        alert_rules.db_pool(*worst_pool),
        alert_rules.slow_queries([float(s["duration_ms"]) for s in figures.slow_statements], slowest),
        alert_rules.outbox_backlog(figures.outbox_oldest_age_s),
        *alert_rules.scheduler_stalled(job_health, figures.now),
    ]


def publish_gauges(figures: Figures) -> None:
    """The figures CloudWatch charts and alarms on (one EMF line per engine run)."""
    emit("ValidatorPoolSize", figures.active_validators)
    emit("PeerValidationEnabled", 1 if figures.peer_validation_enabled else 0)
    emit("OutboxOldestAgeSeconds", figures.outbox_oldest_age_s or 0)
    emit("OutboxDeadMessages", figures.dead_outbox_total)
    emit("PendingEvaluationOldestAgeSeconds", figures.oldest_pending_evaluation_s or 0)
    emit("OpenAlerts", figures.open_alerts)
    if figures.pool[1]:
        emit("DbPoolUsedPct", round(100 * figures.pool[0] / figures.pool[1], 2))
    if figures.server_connections[1]:
        emit("DbConnectionsUsedPct", round(100 * figures.server_connections[0] / figures.server_connections[1], 2))
    economy = figures.economy
    if economy is not None:
        if economy.get("ratio") is not None:
            emit("EconomyRatio", float(economy["ratio"]))
        emit("HardshipRatePct", round(100 * float(economy["hardship_rate"]), 2))


def purge_history(uow: UnitOfWork, now: datetime) -> dict[str, int]:
    """Keep 30 days of job runs and 7 days of slow statements."""
    with uow:
        return {"job_runs": uow.operations.purge_job_runs(now - JOB_RUN_RETENTION),
                "slow_queries": uow.operations.purge_slow_statements(now - SLOW_QUERY_RETENTION)}


# --- scheduled job runs ---------------------------------------------------------------------------


def job_started(uow: UnitOfWork, job: str, *, now: datetime | None = None) -> int | None:
    """Record the start of a job run; None when it cannot be recorded (the job runs all the same)."""
    try:
        with uow:
            return uow.operations.start_job_run(job, now or datetime.now(UTC))
    except Exception:
        logger.warning("job run not recorded", exc_info=True)
        return None


def job_finished(uow: UnitOfWork, run_id: int | None, *, ok: bool, error: str | None = None, result: Any = None,
                 now: datetime | None = None) -> None:
    if run_id is None:
        return
    try:
        with uow:
            uow.operations.finish_job_run(run_id, ok=ok, error=error, result=_json_safe(result),
                                           finished_at=now or datetime.now(UTC))
    except Exception:
        logger.warning("job run end not recorded", exc_info=True)


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return str(value)


# --- worker health --------------------------------------------------------------------------------


def worker_health(uow: UnitOfWork, probes: OperationalProbes, jobs: Sequence[tuple[str, str, int]], *,
                  now: datetime | None = None, dlq_client: Any = None) -> dict[str, Any]:
    """Backlog per stage (count and age of the oldest item), dead letters, the pool, and the last run of
    every scheduled job (`jobs`: name, schedule expression, cadence in seconds)."""
    now = now or datetime.now(UTC)
    dlq = probes.dead_letter_depths(dlq_client)
    with uow:
        stages = uow.operations.stage_backlogs()
        dead = uow.operations.dead_outbox_by_topic()
        summaries = uow.operations.job_summaries(now - timedelta(hours=24))
        outbox_age = uow.outbox.oldest_unsent_age_seconds()
        server = uow.operations.server_connections()
    scheduler = []
    for name, expression, every in jobs:
        s = summaries.get(name)
        since = (s.last_ok_at or s.first_seen_at) if s else None
        stale = since is not None and (now - since).total_seconds() > every * alert_rules.STALE_JOB_FACTOR
        scheduler.append({
            "job": name, "schedule": expression, "every_seconds": every,
            "last_started_at": s.last_started_at if s else None,
            "last_finished_at": s.last_finished_at if s else None,
            "last_ok": s.last_ok if s else None, "last_error": s.last_error if s else None,
            "last_duration_ms": s.last_duration_ms if s else None,
            "last_ok_at": s.last_ok_at if s else None,
            "consecutive_failures": s.consecutive_failures if s else 0,
            "runs_24h": s.runs_24h if s else 0, "failures_24h": s.failures_24h if s else 0,
            "stale": stale,
        })
    in_use, maximum = _pool_usage(probes)
    return {
        "generated_at": now,
        "outbox_oldest_unsent_age_s": outbox_age,
        "stages": [{"stage": b["stage"], "waiting": int(b["waiting"]), "oldest_age_s": b["oldest_age_s"]}
                   for b in stages],
        "dead_letters": {"outbox": dead, "sqs": dlq},
        "database": {"pool_in_use": in_use, "pool_max": maximum, "server_connections": server[0],
                     "server_max_connections": server[1]},
        "scheduler": scheduler,
    }


# --- the dashboard --------------------------------------------------------------------------------


def dashboard(uow: UnitOfWork, *, hours: int = 24, now: datetime | None = None) -> dict[str, Any]:
    """What the operators' page shows: routing split, decisions by path, consensus latency, spot-check
    agreement, the economy over time and unresolved alerts, over the last `hours`."""
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=hours)
    with uow:
        latencies = uow.operations.consensus_latencies(since)
        disagreements, completed = uow.operations.spot_check_figures(since)
        active = uow.operations.active_validators(now)
        data = {
            "generated_at": now,
            "window_hours": hours,
            "routing_split": uow.operations.routing_split(since),
            "decisions_by_path": uow.operations.decisions_by_path(since),
            "submissions_series": uow.operations.submissions_series(since),
            "consensus": {
                "decisions": len(latencies),
                "p50_ms": percentile(latencies, 50),
                "p95_ms": percentile(latencies, 95),
                "series": uow.operations.consensus_latency_series(since),
            },
            "spot_checks": {
                "completed": completed,
                "agreements": completed - disagreements,
                "agreement_rate": (completed - disagreements) / completed if completed else None,
                "series": uow.operations.spot_check_series(now - timedelta(days=max(7, hours // 24))),
            },
            "economy": [
                {"bucket": e["bucket"], "ratio": float(e["ratio"]) if e["ratio"] is not None else None,
                 "ratio_state": e["ratio_state"], "hardship_rate": float(e["hardship_rate"]),
                 "faucet": int(e["faucet"]), "sink": int(e["sink"])}
                for e in uow.operations.economy_series(now - timedelta(days=max(7, hours // 24)))
            ],
            "validators": {"active": active},
            "alerts": {
                "counts": uow.alerts.counts(),
                "unresolved": uow.alerts.list_alerts(status="open", limit=20)
                + uow.alerts.list_alerts(status="acknowledged", limit=20),
            },
        }
    data["decision_gates"] = _decision_gates(uow, now)
    return data


def _decision_gates(uow: UnitOfWork, now: datetime) -> dict[str, Any] | None:
    try:
        return validator_reports.decision_gates(uow, now=now)
    except Exception:  # the page still shows everything else
        logger.exception("decision gates could not be computed")
        return None
