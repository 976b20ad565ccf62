"""Scheduled jobs: one list, registered as EventBridge schedules and run by the local scheduler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice.app import Blueprint
from chalice.app import CloudWatchEvent

from chalicelib import bootstrap
from chalicelib.observability import logger, metrics

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

    return sweep(bootstrap.sender())


def purge_rate_limit_windows() -> int:
    from chalicelib.adapters import rate_limits
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        return rate_limits.purge_old(conn)


JOBS: list[Job] = [
    Job("outbox_sweep", "rate(1 minute)", 60, sweep_outbox),
    Job("rate_limit_purge", "rate(1 day)", 86_400, purge_rate_limit_windows),
]


def run_job(job: Job) -> Any:
    """Run one job with logging; exceptions propagate so that failures are visible and retried."""
    logger.append_keys(job=job.name)
    try:
        result = job.run()
        logger.info("scheduled job finished", extra={"result": result if isinstance(result, int | str) else None})
        return result
    finally:
        metrics.flush_metrics()
        logger.remove_keys(["job"])


def _register(job: Job) -> None:
    def handler(event: CloudWatchEvent) -> Any:
        return run_job(job)

    handler.__name__ = job.name
    bp.schedule(job.expression, name=job.name)(handler)


def register_all() -> None:
    for job in JOBS:
        _register(job)

register_all()
