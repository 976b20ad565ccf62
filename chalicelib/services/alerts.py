"""The alert engine and the operators' alert use cases.

Every minute `run_engine` reads the figures, runs the rules (chalicelib/domain/alert_rules.py),
raises what fires (deduplicated for an hour by alerts_repo.raise_alert), resolves what cleared,
announces every new alert once (whoever raised it: the economy snapshot and the Layer B budget
raise their own), escalates open alerts nobody acknowledged in time, and delivers the queued
notifications with retries. Operators list, acknowledge and resolve alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chalicelib.adapters import alerts_repo, notifiers
from chalicelib.adapters.notifiers import AlertMessage, Notifier
from chalicelib.config import get_settings
from chalicelib.db.pool import transaction
from chalicelib.domain import alert_rules
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.observability import emit, logger
from chalicelib.services import operations

ENGINE_ACTOR = "alert-engine"
MAX_DELIVERY_ROUNDS = 5  # engine runs that retry a failed notification before it is given up
RUNBOOK_BASE = "docs/runbooks"


def runbook_of(rule: str) -> str:
    return f"{RUNBOOK_BASE}/{rule}.md"


def run_engine(
    jobs: Sequence[tuple[str, int]] = (), *, now: datetime | None = None, channels: Sequence[Notifier] | None = None,
    dlq_client: Any = None, retry_delay_s: float = 0.5,
) -> dict[str, Any]:
    """One run of the alert engine; returns what it did. `jobs`: (name, cadence in seconds) to watch."""
    now = now or datetime.now(UTC)
    chosen = list(channels) if channels is not None else notifiers.configured(get_settings())
    figures = operations.read_figures(now=now, dlq_client=dlq_client)
    checks = operations.evaluate_rules(figures, jobs)
    firing = [c for c in checks if c.finding is not None]
    cleared = sorted({key for c in checks if c.state == "ok" for key in c.subjects})
    with transaction() as conn:
        raised = 0
        for check in firing:
            finding = check.finding
            assert finding is not None
            result = alerts_repo.raise_alert(conn, rule=finding.rule, severity=finding.severity, title=finding.title,
                                             details=finding.details, dedup_key=finding.dedup_key, tier=finding.tier,
                                             now=now)
            alerts_repo.raise_tier(conn, result.id, finding.tier)
            raised += result.created
        still_firing = {c.finding.dedup_key for c in firing if c.finding is not None}
        resolved = alerts_repo.resolve_keys(conn, [k for k in cleared if k not in still_firing], actor=ENGINE_ACTOR,
                                            now=now)
        announced = _announce(conn, [c.channel for c in chosen])
        escalated = _escalate(conn, [c.channel for c in chosen], now)
    delivered = deliver_pending(chosen, now=now, retry_delay_s=retry_delay_s)
    operations.publish_gauges(figures)
    summary = {
        "checks": len(checks), "firing": sorted({c.finding.dedup_key for c in firing if c.finding}),
        "unknown": sorted({c.rule for c in checks if c.state == "unknown"}),
        "raised": raised, "resolved": len(resolved), "announced": announced, "escalated": escalated,
        **delivered,
    }
    logger.info("alert engine ran", extra={"summary": summary})
    return summary


def _announce(conn: Any, channels: list[str]) -> int:
    """Queue the one `raised` notification of each new alert (the page that happens once)."""
    fresh = alerts_repo.unannounced(conn)
    for alert in fresh:
        alerts_repo.queue_notifications(conn, alert["id"], "raised", channels)
        emit("AlertsRaised", Severity=alert["severity"])
    return len(fresh)


def _escalate(conn: Any, channels: list[str], now: datetime) -> int:
    count = 0
    for alert in alerts_repo.open_unescalated(conn):
        due = alert_rules.escalation_due(tier=alert["tier"], status=alert["status"], created_at=alert["created_at"],
                                         escalated_at=alert["escalated_at"], now=now)
        if due and alerts_repo.mark_escalated(conn, alert["id"], now=now):
            alerts_repo.queue_notifications(conn, alert["id"], "escalated", channels)
            emit("AlertEscalations")
            count += 1
    return count


def _message(row: dict[str, Any], event: str) -> AlertMessage:
    return AlertMessage(
        alert_id=str(row["id"]), event=event, rule=row["rule"], severity=row["severity"], tier=int(row["tier"]),
        title=row["title"], details=dict(row["details"] or {}), console_url=get_settings().alert_console_url,
        runbook=runbook_of(row["rule"]),
    )


def deliver_pending(channels: Sequence[Notifier], *, now: datetime | None = None, retry_delay_s: float = 0.5,
                    limit: int = 50) -> dict[str, int]:
    """Send queued notifications through their channel (retries with backoff inside one delivery; a
    failure stays queued for the next runs, up to MAX_DELIVERY_ROUNDS). Rows are locked meanwhile, so
    concurrent engines never send the same notification twice."""
    now = now or datetime.now(UTC)
    by_channel = {c.channel: c for c in channels}
    attempts = get_settings().alert_notify_attempts
    sent = failed = 0
    with transaction() as conn:
        for row in alerts_repo.claim_notifications(conn, limit=limit):
            notifier = by_channel.get(row["channel"])
            if notifier is None:  # the channel was switched off since: nothing to send it through
                alerts_repo.record_delivery(conn, row["notification_id"], sent=False, attempts=0,
                                            error="channel not configured", give_up=True, now=now)
                failed += 1
                continue
            outcome = notifiers.deliver(notifier, _message(row, row["event"]), attempts=attempts,
                                        base_delay_s=retry_delay_s)
            give_up = not outcome.sent and row["rounds"] + 1 >= MAX_DELIVERY_ROUNDS
            alerts_repo.record_delivery(conn, row["notification_id"], sent=outcome.sent, attempts=outcome.attempts,
                                        error=outcome.error, give_up=give_up, now=now)
            if outcome.sent:
                sent += 1
            else:
                failed += 1
                if give_up:
                    emit("AlertDeliveryFailures")
    return {"notifications_sent": sent, "notifications_failed": failed}


# --- operators ------------------------------------------------------------------------------------


def list_alerts(*, status: str | None, severity: str | None, rule: str | None, limit: int,
                before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    position = None
    if before is not None:
        try:
            position = (before[0], UUID(before[1]))
        except ValueError as exc:
            raise ValidationFailed("cursor is not valid",
                                   details=[{"field": "cursor", "message": "malformed cursor"}]) from exc
    with transaction() as conn:
        return alerts_repo.list_alerts(conn, status=status, severity=severity, rule=rule, before=position,
                                       limit=limit)


def get_alert(alert_id: UUID) -> dict[str, Any]:
    with transaction() as conn:
        row = alerts_repo.get(conn, alert_id)
        if row is None:
            raise NotFound("alert not found")
        return {**row, "notifications": alerts_repo.notifications_of(conn, alert_id)}


def acknowledge(alert_id: UUID, *, actor: str, note: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Acknowledge an open alert: it stops escalating. Acknowledging twice is harmless; a resolved alert
    cannot be acknowledged (409)."""
    with transaction() as conn:
        row = alerts_repo.acknowledge(conn, alert_id, actor=actor, note=note, now=now)
    if row is None:
        raise NotFound("alert not found")
    if row["status"] == "resolved":
        raise Conflict("the alert is already resolved", details={"resolved_at": str(row["resolved_at"])})
    logger.info("alert acknowledged", extra={"alert_id": str(alert_id), "actor": actor})
    return row


def resolve(alert_id: UUID, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Resolve an alert by hand (its condition was dealt with). Resolving twice is harmless."""
    with transaction() as conn:
        if alerts_repo.resolve(conn, alert_id, now=now):
            alerts_repo.mark_resolved_by(conn, alert_id, actor=actor)
        row = alerts_repo.get(conn, alert_id)
    if row is None:
        raise NotFound("alert not found")
    return row
