"""The privacy-request worker: exports and erasures, run from the queue, never inside an API request.

A job is a list of steps (`privacy_job.py`; an export's in `privacy_export_job.py`, an erasure's in
`privacy_erasure_job.py`). Each step is idempotent and commits on its own, and the request row records
the finished steps: a job that crashed half-way resumes where it stopped when the message comes back.
A job lock (an advisory lock in PostgreSQL) keeps two deliveries of one request from running at once. After
MAX_ATTEMPTS failures a request is marked failed (and the message acknowledged).
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from chalicelib.domain import privacy
from chalicelib.observability import emit, logger
from chalicelib.services.ports import JobLocks
from chalicelib.services.privacy_erasure_job import run_erasure
from chalicelib.services.privacy_export_job import run_export
from chalicelib.services.privacy_job import ACTOR, Busy, Job, Refused, Stores
from chalicelib.services.unit_of_work import UnitOfWork


def run_request(uow: UnitOfWork, stores: Stores, locks: JobLocks, request_id: UUID, *,
                crash_after: str | None = None) -> str:
    """Run (or resume) one request. Returns what happened: completed, skipped, or failed.

    ``crash_after`` (tests) raises right after the named step committed, as a crash would.
    """
    with locks.hold(f"privacy_request:{request_id}") as held:
        if not held:
            raise Busy(f"privacy request {request_id} is running elsewhere")
        return _run(uow, stores, request_id, crash_after=crash_after)


def _run(uow: UnitOfWork, stores: Stores, request_id: UUID, *, crash_after: str | None) -> str:
    now = uow.clock.now()
    with uow:
        row = uow.privacy.get_request(request_id, for_update=True)
        if row is None or row["status"] in ("completed", "failed"):
            return "skipped"
        if row["approval_required"] and row["approved_at"] is None:
            return "skipped"  # an erasure never runs before its approval
        first = row["status"] == "pending"
        row = uow.privacy.start(request_id, now)
        if first:
            uow.privacy.audit(action="start", actor=ACTOR, request_id=request_id,
                              subject_id=row["subject_id"], details={"type": row["type"]}, now=now)
    job = Job(uow, stores, row, dict(row["state"] or {}))
    started = time.perf_counter()
    try:
        if row["type"] == "export":
            run_export(job, crash_after=crash_after)
        else:
            run_erasure(job, crash_after=crash_after)
    except Exception as exc:
        if isinstance(exc, Busy):
            raise
        final = isinstance(exc, Refused) or int(row["attempts"]) >= privacy.MAX_ATTEMPTS
        with uow:
            uow.privacy.record_failure(request_id, error=f"{type(exc).__name__}: {exc}", final=final,
                                       now=uow.clock.now())
            if final:
                uow.privacy.audit(action="fail", actor=ACTOR, request_id=request_id,
                                  subject_id=job.request["subject_id"],
                                  details={"error": type(exc).__name__, "attempts": row["attempts"]})
        if final:
            logger.exception("privacy request failed for good", extra={"request_id": str(request_id)})
            emit("PrivacyRequestsFailed", 1)
            return "failed"
        raise
    emit("PrivacyRequestsCompleted", 1)
    logger.info("privacy request completed", extra={"request_id": str(request_id), "type": row["type"],
                                                    "seconds": round(time.perf_counter() - started, 3)})
    return "completed"


def handle_event(payload: dict[str, Any]) -> str:
    """Events on the privacy-request queue (today `subject.erased`): recorded in logs and metrics."""
    if payload.get("event") == "subject.erased":
        logger.info("subject erased", extra={"request_id": payload.get("request_id"),
                                             "tombstone_id": payload.get("tombstone_id")})
        return "announced"
    return "ignored"
