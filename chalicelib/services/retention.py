"""The daily retention run: anonymise, then delete, what is past its period (domain/retention.py).

Each kind is handled in batches of BATCH_SIZE rows, each batch in its own transaction, at most
MAX_BATCHES per kind and run; what is left waits for the next run. Every step selects only what is
still due, so running twice changes nothing more. The run is audited in privacy_audit_log (which
retention never touches), and an alert is raised when it failed on two days running.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.domain import retention
from chalicelib.domain.layer_b import ClassifierInput, cache_key
from chalicelib.domain.retention import BATCH_SIZE, KINDS, MAX_BATCHES, RetentionKind
from chalicelib.observability import emit, logger
from chalicelib.services import evidence_upload as evidence_service
from chalicelib.services.ports import BlobStore
from chalicelib.services.repositories import RetentionRepository
from chalicelib.services.unit_of_work import UnitOfWork

JOB = "privacy_retention"
ACTOR = f"schedule:{JOB}"
ALERT_RULE = "privacy_retention_failing"


def _periods(uow: UnitOfWork, now: datetime) -> dict[str, tuple[int, datetime]]:
    with uow:
        flags = uow.flags.current()
    return {k.kind: (int(flags[k.flag]), k.cutoff(now, int(flags[k.flag]))) for k in KINDS}


def preview(uow: UnitOfWork, *, now: datetime | None = None) -> dict[str, Any]:
    """What the next run would touch now (a dry run: counts only) and what the last run did."""
    now = now or uow.clock.now()
    periods = _periods(uow, now)
    kinds = []
    with uow:
        for k in KINDS:
            period, cutoff = periods[k.kind]
            due = (uow.privacy.count_expired_exports(now) if k.kind == "privacy_exports"
                   else uow.retention.count_due(k.kind, cutoff))
            kinds.append({"kind": k.kind, "flag": k.flag, "period": period, "unit": k.unit, "action": k.action,
                          "cutoff": cutoff, "due": due, "next_run_limit": BATCH_SIZE * MAX_BATCHES,
                          "description": k.description})
        runs = uow.retention.recent_runs(JOB, 2)
    last = runs[0] if runs else None
    return {"generated_at": now, "kinds": kinds,
            "last_run": {"started_at": last["started_at"], "finished_at": last["finished_at"], "ok": last["ok"],
                         "error": last["error"], "result": last["result"], "duration_ms": last["duration_ms"]}
            if last else None}


def run(uow: UnitOfWork, blobs: BlobStore, exports: BlobStore, *, now: datetime | None = None) -> dict[str, Any]:
    """One retention run over every kind; returns counts per kind (what job_runs records)."""
    now = now or uow.clock.now()
    periods = _periods(uow, now)
    handlers: dict[str, Callable[[datetime, datetime], int]] = {
        "rejected_submissions": lambda cutoff, now: _rejected_submissions(uow, cutoff),
        "rate_limit_windows": _batched(uow, lambda repo: repo.delete_rate_limit_windows),
        "registration_addresses": _batched(uow, lambda repo: repo.forget_registration_addresses),
        "idempotency_records": _batched(uow, lambda repo: repo.delete_idempotency_records),
        "processed_evidence": _evidence(uow, blobs, "processed_evidence"),
        "quarantine_leftovers": _evidence(uow, blobs, "quarantine_leftovers"),
        "attestations": _batched(uow, lambda repo: repo.delete_attestations),
        "alert_history": _batched(uow, lambda repo: repo.delete_alerts),
        "privacy_exports": lambda cutoff, now: _exports(uow, exports, now),
    }
    done: dict[str, int] = {}
    for k in KINDS:
        _, cutoff = periods[k.kind]
        done[k.kind] = handlers[k.kind](cutoff, now)
    with uow:
        uow.privacy.audit(action="retention", actor=ACTOR, details={"handled": done}, now=now)
    emit("RetentionRowsHandled", sum(done.values()))
    return {"handled": done, "at": now.isoformat()}


def _batched(uow: UnitOfWork, step: Callable[[RetentionRepository], Callable[[datetime, int], int]]
             ) -> Callable[[datetime, datetime], int]:
    def handle(cutoff: datetime, now: datetime) -> int:
        total = 0
        for _ in range(MAX_BATCHES):
            with uow:
                n = step(uow.retention)(cutoff, BATCH_SIZE)
            total += n
            if n < BATCH_SIZE:
                break
        return total

    return handle


def _rejected_submissions(uow: UnitOfWork, cutoff: datetime) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        with uow:
            rows = uow.retention.rejected_submissions(cutoff, BATCH_SIZE)
            if rows:
                keys = [cache_key(ClassifierInput(kind=r["kind"], title=r["title"], body=r["body"],
                                                  domain=r["domain"])) for r in rows]
                uow.privacy.scrub_submissions([r["id"] for r in rows], None, keys)
        total += len(rows)
        if len(rows) < BATCH_SIZE:
            break
    return total


def _evidence(uow: UnitOfWork, store: BlobStore, kind: str) -> Callable[[datetime, datetime], int]:
    def handle(cutoff: datetime, now: datetime) -> int:
        total = 0
        for _ in range(MAX_BATCHES):
            with uow:
                rows = uow.retention.evidence_due(kind, cutoff, BATCH_SIZE)
                # Blobs first: a batch that fails after this finds the rows again and deletes nothing twice.
                for row in rows:
                    store.delete(evidence_service.quarantine_key(row["id"]))
                    if kind == "processed_evidence" and row["processed_key"]:
                        store.delete(row["processed_key"])
                ids = [r["id"] for r in rows]
                if ids:
                    if kind == "processed_evidence":
                        uow.retention.delete_evidence(ids)
                    else:
                        uow.retention.mark_originals_deleted(ids, now)
            total += len(rows)
            if len(rows) < BATCH_SIZE:
                break
        return total

    return handle


def _exports(uow: UnitOfWork, store: BlobStore, now: datetime) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        with uow:
            rows = uow.privacy.expired_exports(now, BATCH_SIZE)
            for row in rows:
                store.delete(row["export_key"])
                uow.privacy.audit(action="expire", actor=ACTOR, request_id=row["id"],
                                  subject_id=row["subject_id"], now=now)
            if rows:
                uow.privacy.mark_export_deleted([r["id"] for r in rows], now)
        total += len(rows)
        if len(rows) < BATCH_SIZE:
            break
    return total


def after_failure(uow: UnitOfWork, error: str, *, now: datetime | None = None) -> bool:
    """Called when a run fails (before its own job_runs row is closed): raise the alert when this run
    and the earlier ones failed on two UTC days running. Returns whether the alert was raised."""
    now = now or uow.clock.now()
    try:
        with uow:
            runs = uow.retention.recent_runs(JOB, 10)
            history = [(now, False)] + [(r["started_at"], bool(r["ok"])) for r in runs]
            if not retention.failing_two_days_running(history):
                return False
            uow.alerts.raise_alert(
                rule=ALERT_RULE, severity="critical",
                title="Privacy retention failed two days running",
                details={"last_error": error[:500], "failed_at": [t for t, ok in history if not ok][:10]},
                dedup_key=ALERT_RULE, tier=1, now=now,
            )
        return True
    except Exception:
        logger.exception("retention failure alert not raised")
        return False


def kinds() -> tuple[RetentionKind, ...]:
    return KINDS
