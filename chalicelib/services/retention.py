"""The daily retention run: anonymise, then delete, what is past its period (domain/retention.py).

Each kind is handled in batches of BATCH_SIZE rows, each batch in its own transaction, at most
MAX_BATCHES per kind and run; what is left waits for the next run. Every step selects only what is
still due, so running twice changes nothing more. The run is audited in privacy_audit_log (which
retention never touches), and an alert is raised when it failed on two days running.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import alerts_repo, flags_repo, privacy_repo, retention_repo
from chalicelib.db.pool import transaction
from chalicelib.domain import retention
from chalicelib.domain.layer_b import ClassifierInput
from chalicelib.domain.retention import BATCH_SIZE, KINDS, MAX_BATCHES, RetentionKind
from chalicelib.observability import emit, logger

JOB = "privacy_retention"
ACTOR = f"schedule:{JOB}"
ALERT_RULE = "privacy_retention_failing"


def _periods(now: datetime) -> dict[str, tuple[int, datetime]]:
    with transaction() as conn:
        flags = flags_repo.current(conn)
    return {k.kind: (int(flags[k.flag]), k.cutoff(now, int(flags[k.flag]))) for k in KINDS}


def preview(*, now: datetime | None = None) -> dict[str, Any]:
    """What the next run would touch now (a dry run: counts only) and what the last run did."""
    now = now or datetime.now(UTC)
    periods = _periods(now)
    kinds = []
    with transaction() as conn:
        for k in KINDS:
            period, cutoff = periods[k.kind]
            due = (privacy_repo.count_expired_exports(conn, now) if k.kind == "privacy_exports"
                   else retention_repo.count_due(conn, k.kind, cutoff))
            kinds.append({"kind": k.kind, "flag": k.flag, "period": period, "unit": k.unit, "action": k.action,
                          "cutoff": cutoff, "due": due, "next_run_limit": BATCH_SIZE * MAX_BATCHES,
                          "description": k.description})
        runs = retention_repo.recent_runs(conn, JOB, 2)
    last = runs[0] if runs else None
    return {"generated_at": now, "kinds": kinds,
            "last_run": {"started_at": last["started_at"], "finished_at": last["finished_at"], "ok": last["ok"],
                         "error": last["error"], "result": last["result"], "duration_ms": last["duration_ms"]}
            if last else None}


def run(*, now: datetime | None = None) -> dict[str, Any]:
    """One retention run over every kind; returns counts per kind (what job_runs records)."""
    now = now or datetime.now(UTC)
    periods = _periods(now)
    handlers: dict[str, Callable[[datetime, datetime], int]] = {
        "rejected_submissions": _rejected_submissions,
        "rate_limit_windows": _batched(retention_repo.delete_rate_limit_windows),
        "idempotency_records": _batched(retention_repo.delete_idempotency_records),
        "processed_evidence": _evidence("processed_evidence"),
        "quarantine_leftovers": _evidence("quarantine_leftovers"),
        "attestations": _batched(retention_repo.delete_attestations),
        "alert_history": _batched(retention_repo.delete_alerts),
        "privacy_exports": _exports,
    }
    done: dict[str, int] = {}
    for k in KINDS:
        _, cutoff = periods[k.kind]
        done[k.kind] = handlers[k.kind](cutoff, now)
    with transaction() as conn:
        privacy_repo.audit(conn, action="retention", actor=ACTOR, details={"handled": done}, now=now)
    emit("RetentionRowsHandled", sum(done.values()))
    return {"handled": done, "at": now.isoformat()}


def _batched(step: Callable[[Any, datetime, int], int]) -> Callable[[datetime, datetime], int]:
    def handle(cutoff: datetime, now: datetime) -> int:
        total = 0
        for _ in range(MAX_BATCHES):
            with transaction() as conn:
                n = step(conn, cutoff, BATCH_SIZE)
            total += n
            if n < BATCH_SIZE:
                break
        return total

    return handle


def _rejected_submissions(cutoff: datetime, now: datetime) -> int:
    from chalicelib.services.layer_b_service import cache_key

    total = 0
    for _ in range(MAX_BATCHES):
        with transaction() as conn:
            rows = retention_repo.rejected_submissions(conn, cutoff, BATCH_SIZE)
            if rows:
                keys = [cache_key(ClassifierInput(kind=r["kind"], title=r["title"], body=r["body"],
                                                  domain=r["domain"])) for r in rows]
                privacy_repo.scrub_submissions(conn, [r["id"] for r in rows], None, keys)
        total += len(rows)
        if len(rows) < BATCH_SIZE:
            break
    return total


def _evidence(kind: str) -> Callable[[datetime, datetime], int]:
    def handle(cutoff: datetime, now: datetime) -> int:
        from chalicelib.services import evidence as evidence_service

        store = evidence_service.blob_store()
        total = 0
        for _ in range(MAX_BATCHES):
            with transaction() as conn:
                rows = retention_repo.evidence_due(conn, kind, cutoff, BATCH_SIZE)
                # Blobs first: a batch that fails after this finds the rows again and deletes nothing twice.
                for row in rows:
                    store.delete(evidence_service.quarantine_key(row["id"]))
                    if kind == "processed_evidence" and row["processed_key"]:
                        store.delete(row["processed_key"])
                ids = [r["id"] for r in rows]
                if ids:
                    if kind == "processed_evidence":
                        retention_repo.delete_evidence(conn, ids)
                    else:
                        retention_repo.mark_originals_deleted(conn, ids, now)
            total += len(rows)
            if len(rows) < BATCH_SIZE:
                break
        return total

    return handle


def _exports(cutoff: datetime, now: datetime) -> int:
    from chalicelib.services.privacy_requests import export_store

    store = export_store()
    total = 0
    for _ in range(MAX_BATCHES):
        with transaction() as conn:
            rows = privacy_repo.expired_exports(conn, now, BATCH_SIZE)
            for row in rows:
                store.delete(row["export_key"])
                privacy_repo.audit(conn, action="expire", actor=ACTOR, request_id=row["id"],
                                   subject_id=row["subject_id"], now=now)
            if rows:
                privacy_repo.mark_export_deleted(conn, [r["id"] for r in rows], now)
        total += len(rows)
        if len(rows) < BATCH_SIZE:
            break
    return total


def after_failure(error: str, *, now: datetime | None = None) -> bool:
    """Called when a run fails (before its own job_runs row is closed): raise the alert when this run
    and the earlier ones failed on two UTC days running. Returns whether the alert was raised."""
    now = now or datetime.now(UTC)
    try:
        with transaction() as conn:
            runs = retention_repo.recent_runs(conn, JOB, 10)
            history = [(now, False)] + [(r["started_at"], bool(r["ok"])) for r in runs]
            if not retention.failing_two_days_running(history):
                return False
            alerts_repo.raise_alert(
                conn, rule=ALERT_RULE, severity="critical",
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
