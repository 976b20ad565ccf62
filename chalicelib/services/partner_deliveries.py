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
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from chalicelib.adapters import alerts_repo, deliveries_repo, outbox
from chalicelib.adapters.agents_repo import Principal
from chalicelib.adapters.delivery_targets import (
    DeliveryFailed,
    Resolver,
    Sent,
    post_webhook,
    put_s3,
    resolve,
    vetted_address,
)
from chalicelib.config import get_settings
from chalicelib.db.pool import transaction
from chalicelib.domain import deliveries
from chalicelib.domain.deliveries import DeliveryFilter, Target
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.observability import emit, logger

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


def _check(draft: ScheduleDraft, *, resolver: Resolver) -> tuple[Target, str]:
    cron = deliveries.check_cron(draft.cron)
    target = deliveries.parse_target(draft.target, allow_local_http=not _strict())
    if target.kind == "webhook" and _strict():
        vetted_address(target, strict=True, resolver=resolver)  # checked again at every send
    return target, cron


def _values(draft: ScheduleDraft, target: Target, cron: str, secret: str) -> dict[str, Any]:
    return {"partner": draft.partner, "target_kind": target.kind, "target": target.url, "filter": draft.filter,
            "format": draft.format, "cron": cron, "active": draft.active, "secret": secret}


def with_next_runs(row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    return {**row, "next_runs": deliveries.next_runs(row["cron"], now or datetime.now(UTC))}


def create_schedule(admin: Principal, draft: ScheduleDraft, *, resolver: Resolver = resolve,
                    now: datetime | None = None) -> dict[str, Any]:
    """A new schedule; it delivers content approved from now on. The secret is returned once."""
    now = now or datetime.now(UTC)
    target, cron = _check(draft, resolver=resolver)
    secret = draft.secret or secrets.token_urlsafe(32)
    with transaction() as conn:
        row = deliveries_repo.insert_schedule(conn, _values(draft, target, cron, secret), actor=admin.actor,
                                              watermark_at=now, next_run_at=deliveries.next_runs(cron, now, 1)[0])
    return with_next_runs(row, now)


def update_schedule(schedule_id: UUID, draft: ScheduleDraft, *, resolver: Resolver = resolve,
                    now: datetime | None = None) -> dict[str, Any]:
    """Replace a schedule's fields (the watermark stays: nothing already sent is sent again)."""
    now = now or datetime.now(UTC)
    target, cron = _check(draft, resolver=resolver)
    with transaction() as conn:
        current = deliveries_repo.get_schedule(conn, schedule_id, for_update=True)
        if current is None:
            raise NotFound("delivery schedule not found")
        values = _values(draft, target, cron, draft.secret or current["secret"])
        row = deliveries_repo.update_schedule(conn, schedule_id, values,
                                              next_run_at=deliveries.next_runs(cron, now, 1)[0], now=now)
    assert row is not None
    return with_next_runs(row, now)


def delete_schedule(schedule_id: UUID) -> None:
    with transaction() as conn:
        if not deliveries_repo.soft_delete_schedule(conn, schedule_id, now=datetime.now(UTC)):
            raise NotFound("delivery schedule not found")


def get_schedule(schedule_id: UUID) -> dict[str, Any]:
    with transaction() as conn:
        row = deliveries_repo.get_schedule(conn, schedule_id)
    if row is None:
        raise NotFound("delivery schedule not found")
    return with_next_runs(row)


def list_schedules(*, limit: int, before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    with transaction() as conn:
        rows = deliveries_repo.list_schedules(conn, limit=limit, before=before)
    now = datetime.now(UTC)
    return [with_next_runs(r, now) for r in rows]


# --- payloads ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Payload:
    body: bytes
    items: int
    content_type: str


def build_payload(schedule: dict[str, Any], window_from: datetime, window_to: datetime) -> Payload:
    """What a run of `schedule` over the window sends."""
    wanted = DeliveryFilter.of(schedule["filter"])
    with transaction() as conn:
        items = [deliveries.item_of(row) for row in deliveries_repo.approved_between(conn, window_from, window_to)
                 if wanted.matches(row)]
    fmt = schedule["format"]
    return Payload(deliveries.encode(items, fmt), len(items), deliveries.CONTENT_TYPES[fmt])


def preview(schedule_id: UUID, *, now: datetime | None = None) -> dict[str, Any]:
    """The payload the next run would send (nothing is sent, nothing moves)."""
    now = now or datetime.now(UTC)
    schedule = get_schedule(schedule_id)
    window_to = max(schedule["watermark_at"], now - deliveries.SETTLE_DELAY)
    payload = build_payload(schedule, schedule["watermark_at"], window_to)
    text = payload.body.decode()
    lines = text.splitlines(keepends=True)
    shown = PREVIEW_ITEMS + (1 if schedule["format"] == "csv" else 0)
    return {
        "schedule_id": schedule_id, "window_from": schedule["watermark_at"], "window_to": window_to,
        "items": payload.items, "bytes": len(payload.body), "content_type": payload.content_type,
        "sample": "".join(lines[:shown]), "truncated": len(lines) > shown,
    }


# --- runs ----------------------------------------------------------------------------------------

def _queue_run(conn: Any, schedule: dict[str, Any], *, trigger: str, now: datetime) -> dict[str, Any] | None:
    window_to = max(schedule["watermark_at"], now - deliveries.SETTLE_DELAY)
    run = deliveries_repo.insert_run(conn, schedule["id"], trigger=trigger, window_from=schedule["watermark_at"],
                                     window_to=window_to)
    if run is not None:
        outbox.enqueue(conn, "delivery", {"run_id": str(run["id"])})
    return run


def run_now(schedule_id: UUID, *, now: datetime | None = None) -> dict[str, Any]:
    """Queue a run at once; 409 while another run of the schedule is in flight."""
    now = now or datetime.now(UTC)
    with transaction() as conn:
        schedule = deliveries_repo.get_schedule(conn, schedule_id, for_update=True)
        if schedule is None:
            raise NotFound("delivery schedule not found")
        run = _queue_run(conn, schedule, trigger="manual", now=now)
        if run is None:
            busy = deliveries_repo.in_flight_run(conn, schedule_id)
            raise Conflict("a run of this schedule is already in flight",
                           details={"run_id": str(busy["id"]) if busy else None})
    return run


def claim_due(*, now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """The minute job: queue a run for every due schedule (locked with SKIP LOCKED, so concurrent
    claimers share the work), move each to its next cron time, and requeue runs whose worker vanished."""
    now = now or datetime.now(UTC)
    settings = get_settings()
    queued = skipped = 0
    with transaction() as conn:
        for schedule in deliveries_repo.claim_due_schedules(conn, now=now, limit=limit):
            if _queue_run(conn, schedule, trigger="schedule", now=now) is None:
                skipped += 1  # the previous run is still in flight: this one's window waits for it
            else:
                queued += 1
            deliveries_repo.set_next_run(conn, schedule["id"], deliveries.next_runs(schedule["cron"], now, 1)[0])
        revived = deliveries_repo.stale_running_runs(conn, now=now, lease_s=settings.delivery_lease_s)
        for run_id in revived:
            outbox.enqueue(conn, "delivery", {"run_id": str(run_id)})
    return {"queued": queued, "skipped": skipped, "revived": len(revived)}


Outcome = Literal["succeeded", "retrying", "failed", "skipped"]


def run_delivery(run_id: UUID, *, now: datetime | None = None, resolver: Resolver = resolve,
                 s3_client: Any = None) -> Outcome:
    """One attempt of a run (the delivery worker). A duplicate message finds the run taken or done
    and changes nothing."""
    settings = get_settings()
    started = now or datetime.now(UTC)
    with transaction() as conn:
        run = deliveries_repo.claim_run(conn, run_id, now=started, lease_s=settings.delivery_lease_s)
        schedule = deliveries_repo.get_schedule(conn, run["schedule_id"]) if run else None
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
        payload = build_payload(schedule, run["window_from"], run["window_to"])
        sent = _send(schedule, run, payload, resolver=resolver, s3_client=s3_client)
        code = sent.response_code
    except DeliveryFailed as exc:
        error, code = str(exc), exc.response_code
    duration_ms = int((time.monotonic() - clock) * 1000)
    status = deliveries.next_status(run["attempts"], ok=sent is not None)
    with transaction() as conn:
        finished = deliveries_repo.finish_attempt(
            conn, run_id, status=status, items=payload.items if payload else None,
            size=len(payload.body) if payload else None, response_code=code, error=error, duration_ms=duration_ms,
            location=sent.location if sent else None, now=datetime.now(UTC))
        if status == "succeeded":
            deliveries_repo.advance_watermark(conn, run["schedule_id"], run["window_to"])
        elif status == "retrying":
            delay = deliveries.retry_delay_s(run["attempts"], settings.delivery_retry_base_s)
            outbox.enqueue(conn, "delivery", {"run_id": str(run_id)}, delay_seconds=int(delay))
        else:
            partner = schedule["partner"] if schedule else "?"
            alerts_repo.raise_alert(
                conn, rule=ALERT_RULE, severity="warning", title=f"Delivery to {partner} failed after "
                f"{deliveries.MAX_ATTEMPTS} attempts",
                details={"schedule_id": str(run["schedule_id"]), "run_id": str(run_id), "partner": partner,
                         "error": error, "response_code": code},
                dedup_key=f"{ALERT_RULE}:{run['schedule_id']}", tier=1)
    emit("PartnerDeliveryAttempts", Outcome=status)
    logger.info("partner delivery attempt", extra={"run_id": str(run_id), "status": status,
                                                   "attempt": finished["attempts"], "error": error})
    return status


def _send(schedule: dict[str, Any], run: dict[str, Any], payload: Payload, *, resolver: Resolver,
          s3_client: Any) -> Sent:
    target = deliveries.parse_target(schedule["target"], allow_local_http=not _strict())
    timestamp = int(time.time())
    signature = deliveries.sign(schedule["secret"], payload.body, timestamp)
    if target.kind == "s3":
        key = f"{schedule['id']}/{run['window_to'].strftime('%Y%m%dT%H%M%SZ')}-{run['id']}.{schedule['format']}"
        return put_s3(target, key, payload.body, content_type=payload.content_type, client=s3_client,
                      metadata={"peerguard-signature": signature, "peerguard-delivery": str(run["id"])})
    headers = {
        "Content-Type": payload.content_type, "User-Agent": "peerguard-deliveries/1",
        "X-Peerguard-Signature": signature, "X-Peerguard-Delivery": str(run["id"]),
        "X-Peerguard-Schedule": str(schedule["id"]), "X-Peerguard-Items": str(payload.items),
        "X-Peerguard-Window": f"{run['window_from'].isoformat()}/{run['window_to'].isoformat()}",
    }
    return post_webhook(target, payload.body, headers, timeout_s=get_settings().delivery_timeout_s,
                        strict=_strict(), resolver=resolver)


def runs(schedule_id: UUID, *, limit: int, before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    with transaction() as conn:
        if deliveries_repo.get_schedule(conn, schedule_id) is None:
            raise NotFound("delivery schedule not found")
        return deliveries_repo.runs_of(conn, schedule_id, limit=limit, before=before)


def stats(*, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """Success rate of finished runs over the window, and the last success, per schedule."""
    now = now or datetime.now(UTC)
    with transaction() as conn:
        rows = deliveries_repo.stats(conn, since=now - timedelta(days=days))
    finished = sum(r["finished"] for r in rows)
    succeeded = sum(r["succeeded"] for r in rows)
    return {
        "window_days": days, "runs_finished": finished, "runs_succeeded": succeeded,
        "success_rate": round(succeeded / finished, 4) if finished else None,
        "schedules": [{**r, "success_rate": round(r["succeeded"] / r["finished"], 4) if r["finished"] else None}
                      for r in rows],
    }


