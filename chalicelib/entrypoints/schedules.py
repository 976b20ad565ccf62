"""Scheduled jobs: one list, registered as EventBridge schedules and run by the local scheduler."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent

from chalicelib import bootstrap
from chalicelib.observability import bind, emit, flush, logger
from chalicelib.services import (
    alerts,
    consensus,
    credits,
    economy,
    health,
    operations,
    outbox_relay,
    partner_deliveries,
    personal_data,
    privacy_sweep,
    retention,
    spot_checks,
    trends,
    validators,
)

bp = Blueprint(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    expression: str  # EventBridge schedule expression
    every_seconds: int  # the same cadence for the local scheduler
    run: Callable[[], Any]


def sweep_outbox() -> int:
    """Send what the immediate relay left behind (and retry what failed)."""
    return outbox_relay.sweep(bootstrap.unit_of_work(), bootstrap.sender())


def purge_rate_limit_windows() -> int:
    return health.purge_rate_limit_windows(bootstrap.unit_of_work())


def resolve_evaluation_timeouts() -> dict[str, int]:
    """Expire overdue evaluations; reviews past expiry fall back to the stored Layer B decision."""
    return consensus.resolve_timeouts(bootstrap.unit_of_work())


def poll_spot_check_batches() -> dict[str, int]:
    """Collect ended Layer B batches of spot checks; requeue claims a crashed worker left behind."""
    return spot_checks.poll_batches(bootstrap.unit_of_work(), bootstrap.classifier())


def reset_validator_quotas() -> int:
    return validators.reset_quotas(bootstrap.unit_of_work())


def backfill_validators() -> dict[str, Any]:
    """Agents that became verified join the pool without anybody calling the backfill route."""
    result = validators.backfill(bootstrap.unit_of_work())
    return {"added": result["added"], "pool_size": result["pool_size"]}


def run_alert_engine() -> dict[str, Any]:
    """The alert rules of DESIGN section 10: raise, resolve, announce once, escalate, deliver."""
    return alerts.run_engine(bootstrap.unit_of_work(), bootstrap.probes(),
                             [(job.name, job.every_seconds) for job in JOBS], channels=bootstrap.notifiers())


def snapshot_economy() -> dict[str, Any]:
    """Economic health of the last whole hour, stored, with its alerts raised."""
    row = economy.snapshot_economy(bootstrap.unit_of_work())
    return {"snapshot_id": row["id"], "window_end": row["window_end"].isoformat(), "alerts": len(row["alerts"])}


def verify_ledger() -> dict[str, Any]:
    """The whole journal verified in batches; a checkpoint for the API, the ledger_mismatch alert."""
    result = credits.verify_ledger_full(bootstrap.unit_of_work())
    return {"verification_id": result["verification_id"], "legs_checked": result["legs_checked"],
            "batches": result["batches"], "mismatches": len(result["mismatches"])}


def purge_operations_history() -> dict[str, int]:
    return operations.purge_history(bootstrap.unit_of_work(), bootstrap.clock().now())


def privacy_retention() -> dict[str, Any]:
    """Anonymise, then delete, what is past its retention period (bounded batches, idempotent)."""
    try:
        return retention.run(bootstrap.unit_of_work(), bootstrap.blob_store(), bootstrap.subject_export_store())
    except Exception as exc:
        retention.after_failure(bootstrap.unit_of_work(), f"{type(exc).__name__}: {exc}")
        raise


def rotate_personal_data_keys() -> dict[str, Any]:
    """Move personal values still under an older key to the current one (a no-op when none are)."""
    return personal_data.rotate_keys(bootstrap.unit_of_work()).as_dict()


def claim_due_deliveries() -> dict[str, int]:
    """Queue a run for every partner delivery schedule that is due (FOR UPDATE SKIP LOCKED)."""
    return partner_deliveries.claim_due(bootstrap.unit_of_work())


def aggregate_trends() -> dict[str, Any]:
    """Yesterday's trend figures, and any day a missed run left behind (each day replaced whole)."""
    return trends.aggregate_due_days(bootstrap.unit_of_work())


def sweep_late_photos() -> dict[str, int]:
    """Photos whose privacy-stage lease ran out go through the stage again (or are rejected)."""
    return privacy_sweep.sweep_late_photos(bootstrap.unit_of_work(), bootstrap.blob_store())


JOBS: list[Job] = [
    Job("outbox_sweep", "rate(1 minute)", 60, sweep_outbox),
    Job("privacy_sweep", "rate(1 minute)", 60, sweep_late_photos),
    Job("evaluation_timeouts", "rate(1 minute)", 60, resolve_evaluation_timeouts),
    Job("spot_check_batches", "rate(1 minute)", 60, poll_spot_check_batches),
    Job("validator_quota_reset", "cron(0 0 * * ? *)", 86_400, reset_validator_quotas),
    Job("validator_backfill", "rate(10 minutes)", 600, backfill_validators),
    Job("rate_limit_purge", "rate(1 day)", 86_400, purge_rate_limit_windows),
    Job("alert_engine", "rate(1 minute)", 60, run_alert_engine),
    Job("operations_purge", "rate(1 day)", 86_400, purge_operations_history),
    Job("economy_snapshot", "rate(1 hour)", 3_600, snapshot_economy),
    Job("privacy_retention", "cron(30 3 * * ? *)", 86_400, privacy_retention),
    Job("key_rotation", "rate(1 day)", 86_400, rotate_personal_data_keys),
    Job("partner_deliveries", "rate(1 minute)", 60, claim_due_deliveries),
    Job("trends_daily", "cron(15 0 * * ? *)", 86_400, aggregate_trends),
    Job("ledger_verify", "cron(40 3 * * ? *)", 86_400, verify_ledger),
]


def run_job(job: Job) -> Any:
    """Run one job with logging, recorded in job_runs (worker health and the stalled-job alert);
    exceptions propagate so that failures are visible and retried."""
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
