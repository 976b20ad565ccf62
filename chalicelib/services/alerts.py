"""The alert engine and the operators' alert use cases.

Every minute `run_engine` reads the figures, runs the rules (chalicelib/domain/alert_rules.py),
raises what fires (deduplicated for an hour by alerts_repo.raise_alert), resolves what cleared,
announces every new alert once (whoever raised it: the economy snapshot and the Layer B budget
raise their own), escalates open alerts nobody acknowledged in time, and delivers the queued
notifications with retries. Operators list, acknowledge and resolve alerts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.domain import alert_rules
from chalicelib.domain.alert_rules import AlertMessage
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.observability import emit, logger
from chalicelib.services import operations
from chalicelib.services.ports import Notifier, OperationalProbes
from chalicelib.services.unit_of_work import UnitOfWork

ENGINE_ACTOR = "alert-engine"
MAX_DELIVERY_ROUNDS = 5  # engine runs that retry a failed notification before it is given up
RUNBOOK_BASE = "docs/runbooks"


def runbook_of(rule: str) -> str:
    return f"{RUNBOOK_BASE}/{rule}.md"


def run_engine(
    uow: UnitOfWork, probes: OperationalProbes, jobs: Sequence[tuple[str, int]] = (), *,
    channels: Sequence[Notifier], now: datetime | None = None, dlq_client: Any = None, retry_delay_s: float = 0.5,
) -> dict[str, Any]:
    """One run of the alert engine; returns what it did. `jobs`: (name, cadence in seconds) to watch."""
    now = now or datetime.now(UTC)
    chosen = list(channels)
    figures = operations.read_figures(uow, probes, now=now, dlq_client=dlq_client)
    checks = operations.evaluate_rules(figures, jobs)
    firing = [c for c in checks if c.finding is not None]
    cleared = sorted({key for c in checks if c.state == "ok" for key in c.subjects})
    with uow:
        raised = 0
        for check in firing:
            finding = check.finding
            assert finding is not None
            result = uow.alerts.raise_alert(rule=finding.rule, severity=finding.severity, title=finding.title,
                                             details=finding.details, dedup_key=finding.dedup_key, tier=finding.tier,
                                             now=now)
            uow.alerts.raise_tier(result.id, finding.tier)
            raised += result.created
        still_firing = {c.finding.dedup_key for c in firing if c.finding is not None}
        resolved = uow.alerts.resolve_keys([k for k in cleared if k not in still_firing], actor=ENGINE_ACTOR,
                                            now=now)
        announced = _announce(uow, [c.channel for c in chosen])
        escalated = _escalate(uow, [c.channel for c in chosen], now)
    delivered = deliver_pending(uow, chosen, now=now, retry_delay_s=retry_delay_s)
    operations.publish_gauges(figures)
    summary = {
        "checks": len(checks), "firing": sorted({c.finding.dedup_key for c in firing if c.finding}),
        "unknown": sorted({c.rule for c in checks if c.state == "unknown"}),
        "raised": raised, "resolved": len(resolved), "announced": announced, "escalated": escalated,
        **delivered,
    }
    logger.info("alert engine ran", extra={"summary": summary})
    return summary


def _announce(uow: UnitOfWork, channels: list[str]) -> int:
    """Queue the one `raised` notification of each new alert (the page that happens once)."""
    fresh = uow.alerts.unannounced()
    for alert in fresh:
        uow.alerts.queue_notifications(alert["id"], "raised", channels)
        emit("AlertsRaised", Severity=alert["severity"])
    return len(fresh)


def _escalate(uow: UnitOfWork, channels: list[str], now: datetime) -> int:
    count = 0
    for alert in uow.alerts.open_unescalated():
        due = alert_rules.escalation_due(tier=alert["tier"], status=alert["status"], created_at=alert["created_at"],
                                         escalated_at=alert["escalated_at"], now=now)
        if due and uow.alerts.mark_escalated(alert["id"], now=now):
            uow.alerts.queue_notifications(alert["id"], "escalated", channels)
            emit("AlertEscalations")
            count += 1
    return count


def _message(row: dict[str, Any], event: str) -> AlertMessage:
    return AlertMessage(
        alert_id=str(row["id"]), event=event, rule=row["rule"], severity=row["severity"], tier=int(row["tier"]),
        title=row["title"], details=dict(row["details"] or {}), console_url=get_settings().alert_console_url,
        runbook=runbook_of(row["rule"]),
    )


def deliver_pending(uow: UnitOfWork, channels: Sequence[Notifier], *, now: datetime | None = None,
                    retry_delay_s: float = 0.5,
                    limit: int = 50) -> dict[str, int]:
    """Send queued notifications through their channel (retries with backoff inside one delivery; a
    failure stays queued for the next runs, up to MAX_DELIVERY_ROUNDS). Rows are locked meanwhile, so
    concurrent engines never send the same notification twice."""
    now = now or datetime.now(UTC)
    by_channel = {c.channel: c for c in channels}
    attempts = get_settings().alert_notify_attempts
    sent = failed = 0
    with uow:
        for row in uow.alerts.claim_notifications(limit=limit):
            notifier = by_channel.get(row["channel"])
            if notifier is None:  # the channel was switched off since: nothing to send it through
                uow.alerts.record_delivery(row["notification_id"], sent=False, attempts=0,
                                            error="channel not configured", give_up=True, now=now)
                failed += 1
                continue
            outcome = deliver(notifier, _message(row, row["event"]), attempts=attempts,
                                        base_delay_s=retry_delay_s)
            give_up = not outcome.sent and row["rounds"] + 1 >= MAX_DELIVERY_ROUNDS
            uow.alerts.record_delivery(row["notification_id"], sent=outcome.sent, attempts=outcome.attempts,
                                        error=outcome.error, give_up=give_up, now=now)
            if outcome.sent:
                sent += 1
            else:
                failed += 1
                if give_up:
                    emit("AlertDeliveryFailures")
    return {"notifications_sent": sent, "notifications_failed": failed}


# --- operators ------------------------------------------------------------------------------------


def list_alerts(uow: UnitOfWork, *, status: str | None, severity: str | None, rule: str | None, limit: int,
                before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    position = None
    if before is not None:
        try:
            position = (before[0], UUID(before[1]))
        except ValueError as exc:
            raise ValidationFailed("cursor is not valid",
                                   details=[{"field": "cursor", "message": "malformed cursor"}]) from exc
    with uow:
        return uow.alerts.list_alerts(status=status, severity=severity, rule=rule, before=position,
                                       limit=limit)


def get_alert(uow: UnitOfWork, alert_id: UUID) -> dict[str, Any]:
    with uow:
        row = uow.alerts.get(alert_id)
        if row is None:
            raise NotFound("alert not found")
        return {**row, "notifications": uow.alerts.notifications_of(alert_id)}


def acknowledge(uow: UnitOfWork, alert_id: UUID, *, actor: str, note: str | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """Acknowledge an open alert: it stops escalating. Acknowledging twice is harmless; a resolved alert
    cannot be acknowledged (409)."""
    with uow:
        row = uow.alerts.acknowledge(alert_id, actor=actor, note=note, now=now)
    if row is None:
        raise NotFound("alert not found")
    if row["status"] == "resolved":
        raise Conflict("the alert is already resolved", details={"resolved_at": str(row["resolved_at"])})
    logger.info("alert acknowledged", extra={"alert_id": str(alert_id), "actor": actor})
    return row


def resolve(uow: UnitOfWork, alert_id: UUID, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Resolve an alert by hand (its condition was dealt with). Resolving twice is harmless."""
    with uow:
        if uow.alerts.resolve(alert_id, now=now):
            uow.alerts.mark_resolved_by(alert_id, actor=actor)
        row = uow.alerts.get(alert_id)
    if row is None:
        raise NotFound("alert not found")
    return row


@dataclass(frozen=True)
class Delivery:
    sent: bool
    attempts: int
    error: str | None


def deliver(
    notifier: Notifier, message: AlertMessage, *, attempts: int, base_delay_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Send with up to `attempts` tries, waiting base_delay x 2^n between them."""
    error: str | None = None
    for attempt in range(1, attempts + 1):
        try:
            notifier.send(message)
            return Delivery(True, attempt, None)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            logger.warning("alert notification failed", extra={"channel": notifier.channel, "attempt": attempt,
                                                               "alert_id": message.alert_id, "error": error})
            if attempt < attempts:
                sleep(base_delay_s * 2 ** (attempt - 1))
    return Delivery(False, attempts, error)
