"""Partner deliveries: schedules (admin CRUD), the minute job that claims what is due, the delivery
worker (one attempt per message, 3 attempts with backoff, then failed + alert), preview, run-now,
history and stats.

Exactly what each run sends: approved content decided in (window_from, window_to], where
window_from is the schedule's watermark and window_to is fixed when the run is created. The
watermark moves to window_to only when the run succeeds, and a schedule has at most one run in
flight, so windows neither overlap nor leave gaps, whatever fails or overlaps.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.domain import deliveries
from chalicelib.domain.deliveries import DeliveryFailed, DeliveryFilter, Sent, Target
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.principal import Principal
from chalicelib.observability import emit, logger
from chalicelib.services.ports import DeliveryTargets
from chalicelib.services.unit_of_work import UnitOfWork

ALERT_RULE = "delivery_failed"
PREVIEW_ITEMS = 20


@dataclass(frozen=True)
class ScheduleDraft:
    partner: str
    target: str
    filter: dict[str, Any]
    format: deliveries.Format
    cron: str
    active: bool
    secret: str | None  # None: keep (update) or generate (create)


def _strict() -> bool:
    """Outside the local stage (and its tests) targets are HTTPS to public addresses only."""
    return get_settings().stage not in ("local", "test")


def _check(draft: ScheduleDraft, targets: DeliveryTargets) -> tuple[Target, str]:
    cron = deliveries.check_cron(draft.cron)
    target = deliveries.parse_target(draft.target, allow_local_http=not _strict())
    if target.kind == "webhook" and _strict():
        targets.vet(target, strict=True)  # checked again at every send
    return target, cron


def _values(draft: ScheduleDraft, target: Target, cron: str, secret: str) -> dict[str, Any]:
    return {"partner": draft.partner, "target_kind": target.kind, "target": target.url, "filter": draft.filter,
            "format": draft.format, "cron": cron, "active": draft.active, "secret": secret}


def with_next_runs(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**row, "next_runs": deliveries.next_runs(row["cron"], now)}


def create_schedule(uow: UnitOfWork, targets: DeliveryTargets, admin: Principal, draft: ScheduleDraft, *,
                    now: datetime | None = None) -> dict[str, Any]:
    """A new schedule; it delivers content approved from now on. The secret is returned once."""
    now = now or uow.clock.now()
    target, cron = _check(draft, targets)
    secret = draft.secret or secrets.token_urlsafe(32)
    with uow:
        row = uow.deliveries.insert_schedule(_values(draft, target, cron, secret), actor=admin.actor,
                                             watermark_at=now, next_run_at=deliveries.next_runs(cron, now, 1)[0])
    return with_next_runs(row, now)


def update_schedule(uow: UnitOfWork, targets: DeliveryTargets, schedule_id: UUID, draft: ScheduleDraft, *,
                    now: datetime | None = None) -> dict[str, Any]:
    """Replace a schedule's fields (the watermark stays: nothing already sent is sent again)."""
    now = now or uow.clock.now()
    target, cron = _check(draft, targets)
    with uow:
        current = uow.deliveries.get_schedule(schedule_id, for_update=True)
        if current is None:
            raise NotFound("delivery schedule not found")
        values = _values(draft, target, cron, draft.secret or current["secret"])
        row = uow.deliveries.update_schedule(schedule_id, values,
                                             next_run_at=deliveries.next_runs(cron, now, 1)[0], now=now)
    assert row is not None
    return with_next_runs(row, now)


def delete_schedule(uow: UnitOfWork, schedule_id: UUID) -> None:
    with uow:
        if not uow.deliveries.soft_delete_schedule(schedule_id, now=uow.clock.now()):
            raise NotFound("delivery schedule not found")


def get_schedule(uow: UnitOfWork, schedule_id: UUID) -> dict[str, Any]:
    with uow:
        row = uow.deliveries.get_schedule(schedule_id)
    if row is None:
        raise NotFound("delivery schedule not found")
    return with_next_runs(row, uow.clock.now())


def list_schedules(uow: UnitOfWork, *, limit: int, before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    with uow:
        rows = uow.deliveries.list_schedules(limit=limit, before=before)
    now = uow.clock.now()
    return [with_next_runs(r, now) for r in rows]


# --- payloads ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Payload:
    body: bytes
    items: int
    content_type: str


def build_payload(uow: UnitOfWork, schedule: dict[str, Any], window_from: datetime, window_to: datetime) -> Payload:
    """What a run of `schedule` over the window sends."""
    wanted = DeliveryFilter.of(schedule["filter"])
    with uow:
        items = [deliveries.item_of(row) for row in uow.deliveries.approved_between(window_from, window_to)
                 if wanted.matches(row)]
    fmt = schedule["format"]
    return Payload(deliveries.encode(items, fmt), len(items), deliveries.CONTENT_TYPES[fmt])


def preview(uow: UnitOfWork, schedule_id: UUID, *, now: datetime | None = None) -> dict[str, Any]:
    """The payload the next run would send (nothing is sent, nothing moves)."""
    now = now or uow.clock.now()
    schedule = get_schedule(uow, schedule_id)
    window_to = max(schedule["watermark_at"], now - deliveries.SETTLE_DELAY)
    payload = build_payload(uow, schedule, schedule["watermark_at"], window_to)
    text = payload.body.decode()
    lines = text.splitlines(keepends=True)
    shown = PREVIEW_ITEMS + (1 if schedule["format"] == "csv" else 0)
    return {
        "schedule_id": schedule_id, "window_from": schedule["watermark_at"], "window_to": window_to,
        "items": payload.items, "bytes": len(payload.body), "content_type": payload.content_type,
        "sample": "".join(lines[:shown]), "truncated": len(lines) > shown,
    }


# --- runs ----------------------------------------------------------------------------------------

def _queue_run(uow: UnitOfWork, schedule: dict[str, Any], *, trigger: str, now: datetime) -> dict[str, Any] | None:
    window_to = max(schedule["watermark_at"], now - deliveries.SETTLE_DELAY)
    run = uow.deliveries.insert_run(schedule["id"], trigger=trigger, window_from=schedule["watermark_at"],
                                    window_to=window_to)
    if run is not None:
        uow.outbox.enqueue("delivery", {"run_id": str(run["id"])})
    return run


def run_now(uow: UnitOfWork, schedule_id: UUID, *, now: datetime | None = None) -> dict[str, Any]:
    """Queue a run at once; 409 while another run of the schedule is in flight."""
    now = now or uow.clock.now()
    with uow:
        schedule = uow.deliveries.get_schedule(schedule_id, for_update=True)
        if schedule is None:
            raise NotFound("delivery schedule not found")
        run = _queue_run(uow, schedule, trigger="manual", now=now)
        if run is None:
            busy = uow.deliveries.in_flight_run(schedule_id)
            raise Conflict("a run of this schedule is already in flight",
                           details={"run_id": str(busy["id"]) if busy else None})
    return run


def claim_due(uow: UnitOfWork, *, now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """The minute job: queue a run for every due schedule (locked with SKIP LOCKED, so concurrent
    claimers share the work), move each to its next cron time, and requeue runs whose worker vanished."""
    now = now or uow.clock.now()
    settings = get_settings()
    queued = skipped = 0
    with uow:
        for schedule in uow.deliveries.claim_due_schedules(now=now, limit=limit):
            if _queue_run(uow, schedule, trigger="schedule", now=now) is None:
                skipped += 1  # the previous run is still in flight: this one's window waits for it
            else:
                queued += 1
            uow.deliveries.set_next_run(schedule["id"], deliveries.next_runs(schedule["cron"], now, 1)[0])
        revived = uow.deliveries.stale_running_runs(now=now, lease_s=settings.delivery_lease_s)
        for run_id in revived:
            uow.outbox.enqueue("delivery", {"run_id": str(run_id)})
    return {"queued": queued, "skipped": skipped, "revived": len(revived)}


Outcome = Literal["succeeded", "retrying", "failed", "skipped"]


def run_delivery(uow: UnitOfWork, targets: DeliveryTargets, run_id: UUID, *,
                 now: datetime | None = None) -> Outcome:
    """One attempt of a run (the delivery worker). A duplicate message finds the run taken or done
    and changes nothing."""
    settings = get_settings()
    started = now or uow.clock.now()
    with uow:
        run = uow.deliveries.claim_run(run_id, now=started, lease_s=settings.delivery_lease_s)
        schedule = uow.deliveries.get_schedule(run["schedule_id"]) if run else None
    if run is None:
        return "skipped"
    clock = time.monotonic()
    payload: Payload | None = None
    sent: Sent | None = None
    error: str | None = None
    code: int | None = None
    try:
        if schedule is None:
            raise DeliveryFailed("the schedule was deleted")
        payload = build_payload(uow, schedule, run["window_from"], run["window_to"])
        sent = _send(targets, schedule, run, payload, signed_at=uow.clock.now())
        code = sent.response_code
    except DeliveryFailed as exc:
        error, code = str(exc), exc.response_code
    duration_ms = int((time.monotonic() - clock) * 1000)
    status = deliveries.next_status(run["attempts"], ok=sent is not None)
    with uow:
        finished = uow.deliveries.finish_attempt(
            run_id, status=status, items=payload.items if payload else None,
            size=len(payload.body) if payload else None, response_code=code, error=error, duration_ms=duration_ms,
            location=sent.location if sent else None, now=uow.clock.now())
        if status == "succeeded":
            uow.deliveries.advance_watermark(run["schedule_id"], run["window_to"])
        elif status == "retrying":
            delay = deliveries.retry_delay_s(run["attempts"], settings.delivery_retry_base_s)
            uow.outbox.enqueue("delivery", {"run_id": str(run_id)}, delay_seconds=int(delay))
        else:
            partner = schedule["partner"] if schedule else "?"
            uow.alerts.raise_alert(
                rule=ALERT_RULE, severity="warning", title=f"Delivery to {partner} failed after "
                f"{deliveries.MAX_ATTEMPTS} attempts",
                details={"schedule_id": str(run["schedule_id"]), "run_id": str(run_id), "partner": partner,
                         "error": error, "response_code": code},
                dedup_key=f"{ALERT_RULE}:{run['schedule_id']}", tier=1)
    emit("PartnerDeliveryAttempts", Outcome=status)
    logger.info("partner delivery attempt", extra={"run_id": str(run_id), "status": status,
                                                   "attempt": finished["attempts"], "error": error})
    return status


def _send(targets: DeliveryTargets, schedule: dict[str, Any], run: dict[str, Any], payload: Payload, *,
          signed_at: datetime) -> Sent:
    target = deliveries.parse_target(schedule["target"], allow_local_http=not _strict())
    timestamp = int(signed_at.timestamp())
    signature = deliveries.sign(schedule["secret"], payload.body, timestamp)
    if target.kind == "s3":
        key = f"{schedule['id']}/{run['window_to'].strftime('%Y%m%dT%H%M%SZ')}-{run['id']}.{schedule['format']}"
        return targets.put_s3(target, key, payload.body, content_type=payload.content_type,
                              metadata={"peerguard-signature": signature, "peerguard-delivery": str(run["id"])})
    headers = {
        "Content-Type": payload.content_type, "User-Agent": "peerguard-deliveries/1",
        "X-Peerguard-Signature": signature, "X-Peerguard-Delivery": str(run["id"]),
        "X-Peerguard-Schedule": str(schedule["id"]), "X-Peerguard-Items": str(payload.items),
        "X-Peerguard-Window": f"{run['window_from'].isoformat()}/{run['window_to'].isoformat()}",
    }
    return targets.post_webhook(target, payload.body, headers, timeout_s=get_settings().delivery_timeout_s,
                                strict=_strict())


def runs(uow: UnitOfWork, schedule_id: UUID, *, limit: int,
         before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    with uow:
        if uow.deliveries.get_schedule(schedule_id) is None:
            raise NotFound("delivery schedule not found")
        return uow.deliveries.runs_of(schedule_id, limit=limit, before=before)


def stats(uow: UnitOfWork, *, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """Success rate of finished runs over the window, and the last success, per schedule."""
    now = now or uow.clock.now()
    with uow:
        rows = uow.deliveries.stats(since=now - timedelta(days=days))
    finished = sum(r["finished"] for r in rows)
    succeeded = sum(r["succeeded"] for r in rows)
    return {
        "window_days": days, "runs_finished": finished, "runs_succeeded": succeeded,
        "success_rate": round(succeeded / finished, 4) if finished else None,
        "schedules": [{**r, "success_rate": round(r["succeeded"] / r["finished"], 4) if r["finished"] else None}
                      for r in rows],
    }


