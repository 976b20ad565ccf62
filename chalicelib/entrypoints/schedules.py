"""Scheduled jobs: one list, registered as EventBridge schedules and run by the local scheduler."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent

from chalicelib import bootstrap
from chalicelib.observability import bind, emit, flush, logger

bp = Blueprint(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    expression: str  # EventBridge schedule expression
    every_seconds: int  # the same cadence for the local scheduler
    run: Callable[[], Any]


def sweep_outbox() -> int:
    """Send what the immediate relay left behind (and retry what failed)."""
    from chalicelib.services.outbox_relay import sweep

    return sweep(bootstrap.unit_of_work(), bootstrap.sender())


def purge_rate_limit_windows() -> int:
    from chalicelib.services.health import purge_rate_limit_windows as purge

    return purge(bootstrap.unit_of_work())


def resolve_evaluation_timeouts() -> dict[str, int]:
    """Expire overdue evaluations; reviews past expiry fall back to the stored Layer B decision."""
    from chalicelib.services.consensus import resolve_timeouts

    return resolve_timeouts(bootstrap.unit_of_work())


def poll_spot_check_batches() -> dict[str, int]:
    """Collect ended Layer B batches of spot checks; requeue claims a crashed worker left behind."""
    from chalicelib.services.spot_checks import poll_batches

    return poll_batches(bootstrap.unit_of_work(), bootstrap.classifier())


def reset_validator_quotas() -> int:
    from chalicelib.services.validators import reset_quotas

    return reset_quotas(bootstrap.unit_of_work())


def backfill_validators() -> dict[str, Any]:
    """Agents that became verified join the pool without anybody calling the backfill route."""
    from chalicelib.services.validators import backfill

    result = backfill(bootstrap.unit_of_work())
    return {"added": result["added"], "pool_size": result["pool_size"]}


def run_alert_engine() -> dict[str, Any]:
    """The alert rules of DESIGN section 10: raise, resolve, announce once, escalate, deliver."""
    from chalicelib.services.alerts import run_engine

    return run_engine(bootstrap.unit_of_work(), bootstrap.probes(), [(job.name, job.every_seconds) for job in JOBS],
                      channels=bootstrap.notifiers())


def snapshot_economy() -> dict[str, Any]:
    """Economic health of the last whole hour, stored, with its alerts raised."""
    from chalicelib.services.economy import snapshot_economy as take_snapshot

    row = take_snapshot(bootstrap.unit_of_work())
    return {"snapshot_id": row["id"], "window_end": row["window_end"].isoformat(), "alerts": len(row["alerts"])}


def purge_operations_history() -> dict[str, int]:
    from datetime import UTC, datetime

    from chalicelib.services.operations import purge_history

    return purge_history(bootstrap.unit_of_work(), datetime.now(UTC))


JOBS: list[Job] = [
    Job("outbox_sweep", "rate(1 minute)", 60, sweep_outbox),
    Job("evaluation_timeouts", "rate(1 minute)", 60, resolve_evaluation_timeouts),
    Job("spot_check_batches", "rate(1 minute)", 60, poll_spot_check_batches),
    Job("validator_quota_reset", "cron(0 0 * * ? *)", 86_400, reset_validator_quotas),
    Job("validator_backfill", "rate(10 minutes)", 600, backfill_validators),
    Job("rate_limit_purge", "rate(1 day)", 86_400, purge_rate_limit_windows),
    Job("alert_engine", "rate(1 minute)", 60, run_alert_engine),
    Job("operations_purge", "rate(1 day)", 86_400, purge_operations_history),
    Job("economy_snapshot", "rate(1 hour)", 3_600, snapshot_economy),
]


def run_job(job: Job) -> Any:
    """Run one job with logging, recorded in job_runs (worker health and the stalled-job alert);
    exceptions propagate so that failures are visible and retried."""
    from chalicelib.services import operations

    with bind(job=job.name, correlation_id=f"job:{job.name}:{uuid.uuid4().hex[:12]}"):
        run_id = operations.job_started(bootstrap.unit_of_work(), job.name)
        try:
            result = job.run()
        except Exception as exc:
            operations.job_finished(bootstrap.unit_of_work(), run_id, ok=False, error=f"{type(exc).__name__}: {exc}")
            emit("ScheduledJobFailures", Job=job.name)
            raise
        else:
            operations.job_finished(bootstrap.unit_of_work(), run_id, ok=True, result=result)
            logger.info("scheduled job finished",
                        extra={"result": result if isinstance(result, int | str | dict) else None})
            return result
        finally:
            flush()


def _register(job: Job) -> None:
    def handler(event: CloudWatchEvent) -> Any:
        return run_job(job)

    handler.__name__ = job.name
    bp.schedule(job.expression, name=job.name)(handler)


def register_all() -> None:
    for job in JOBS:
        _register(job)

register_all()
