"""Use cases of export jobs: estimate an export, start a job for one too large to answer inline,
read it, hand out its download link, and run it (the export_job worker).

A run writes the export to the export store as a multipart upload: it reads rows in key order after
the job's checkpoint (keyset pagination), buffers whole pages until a part of PART_BYTES is full,
uploads it and commits the part with the key of its last row. A run that dies between an upload and
its commit leaves the old checkpoint: the next delivery uploads that part number again (which
replaces it) from the same row, so no row is written twice or lost. Before the invocation's time
runs out the run commits and queues the job again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from chalicelib.domain import export_jobs as rules
from chalicelib.domain import exports
from chalicelib.domain.blobs import DownloadLink
from chalicelib.domain.errors import Conflict, Gone, NotFound, RateLimited
from chalicelib.domain.principal import Principal
from chalicelib.observability import logger
from chalicelib.services.exports import ExportRequest, bounds
from chalicelib.services.ports import ExportStore, JobLocks
from chalicelib.services.unit_of_work import UnitOfWork

TOPIC = "export_job"
REQUEUE_DELAY_S = 2  # the next run starts after this run has let go of the job's lock


class Busy(RuntimeError):
    """Another delivery of the same job is running; this one is retried later."""


class SimulatedCrash(BaseException):  # not an Exception: a run does not handle it, the process "dies"
    """Tests: the process dies right after a part was committed (nothing is recorded)."""


@dataclass(frozen=True)
class Estimate:
    rows: int
    bytes: int


def estimate(uow: UnitOfWork, request: ExportRequest) -> Estimate:
    """The export's rows (an index count) and bytes (that count times the encoded size of a sample of
    its first rows): cheap enough to run before every export."""
    start, end = bounds(request)
    with uow:
        rows = uow.exports.count_rows(request.kind, start=start, end=end)
        sample = uow.exports.page(request.kind, start=start, end=end, after=None,
                                  limit=rules.SAMPLE_ROWS) if rows else []
    frame = len(exports.head(request.kind, request.fmt)) + len(exports.tail(request.fmt, any_rows=bool(sample)))
    sample_bytes = len(exports.encode_rows(request.kind, sample, request.fmt, first=False).encode("utf-8"))
    return Estimate(rows=rows, bytes=rules.estimate_bytes(rows=rows, sample_rows=len(sample),
                                                          sample_bytes=sample_bytes, frame_bytes=frame))


def request_of(row: dict[str, Any]) -> ExportRequest:
    return ExportRequest(kind=row["kind"], fmt=row["format"], start=date.fromisoformat(row["filter"]["from"]),
                         end=date.fromisoformat(row["filter"]["to"]))


def start_job(uow: UnitOfWork, principal: Principal, request: ExportRequest,
              sized: Estimate | None = None) -> dict[str, Any]:
    """Queue a job for the export (the request is checked already). An admin key has at most
    MAX_UNFINISHED_PER_ADMIN queued or running jobs: one more is RateLimited."""
    sized = sized or estimate(uow, request)
    with uow:
        now = uow.clock.now()
        uow.export_jobs.lock_requester(principal.key_id)
        unfinished_jobs = uow.export_jobs.unfinished_for(principal.key_id)
        for job in unfinished_jobs:
            _nudge_if_stalled(uow, job, now)
        unfinished = len(unfinished_jobs)
        if not rules.may_start(unfinished):
            raise RateLimited("you have export jobs running; start another when one has finished",
                              retry_after_s=60, details={"limit": "export_jobs_per_admin",
                                                         "unfinished": unfinished,
                                                         "max": rules.MAX_UNFINISHED_PER_ADMIN})
        job_id = uuid4()
        row = uow.export_jobs.create(
            job_id=job_id, requested_by=principal.key_id, kind=request.kind,
            filter={"from": request.start.isoformat(), "to": request.end.isoformat()}, fmt=request.fmt,
            as_of=now, estimated_rows=sized.rows, estimated_bytes=sized.bytes,
            object_key=rules.object_key(job_id, request.filename), expires_at=rules.expires_at(now), now=now)
        uow.outbox.enqueue(TOPIC, {"job_id": str(job_id)})
    logger.info("export job queued", extra={"job_id": str(job_id), "kind": request.kind,
                                            "estimated_bytes": sized.bytes})
    return row


def _readable(uow: UnitOfWork, principal: Principal, job_id: UUID) -> dict[str, Any]:
    row = uow.export_jobs.get(job_id)
    if row is None or not rules.may_read(row["requested_by"], principal.key_id):
        raise NotFound("export job not found")
    return row


def get_job(uow: UnitOfWork, principal: Principal, job_id: UUID) -> dict[str, Any]:
    """The job, for the admin key that asked for it only (anyone else: NotFound). A stalled job (its
    message lost) is queued again on the way."""
    with uow:
        row = _readable(uow, principal, job_id)
        _nudge_if_stalled(uow, row, uow.clock.now())
        return row


def _nudge_if_stalled(uow: UnitOfWork, row: dict[str, Any], now: datetime) -> None:
    """Queue a stalled job again (a duplicate message is harmless: the lock and the job's state
    guard it); a run that died still counts as a failed attempt when the next one starts."""
    if rules.is_stalled(row["status"], row["updated_at"], now):
        uow.export_jobs.touch(row["id"], now=now)
        uow.outbox.enqueue(TOPIC, {"job_id": str(row["id"])})
        logger.warning("stalled export job queued again", extra={"job_id": str(row["id"])})


def _finished(uow: UnitOfWork, principal: Principal, job_id: UUID) -> dict[str, Any]:
    row = _readable(uow, principal, job_id)
    if row["status"] != "succeeded":
        raise Conflict(f"the export job is {row['status']}", details={"status": row["status"]})
    if row["expires_at"] <= uow.clock.now():
        raise Gone("the export file has expired; start a new export")
    return row


def download_link(uow: UnitOfWork, store: ExportStore, principal: Principal,
                  job_id: UUID) -> tuple[dict[str, Any], DownloadLink]:
    """A link that opens the finished file for LINK_TTL_S seconds (a presigned S3 GET in AWS; locally
    the admin-authenticated file route)."""
    with uow:
        row = _finished(uow, principal, job_id)
        left = int((row["expires_at"] - uow.clock.now()).total_seconds())
    link = store.link(row["object_key"], filename=request_of(row).filename,
                      expires_s=max(1, min(rules.LINK_TTL_S, left)))
    logger.info("export job link issued", extra={"job_id": str(job_id), "link_expires_at": link.expires_at})
    return row, link


def read_file(uow: UnitOfWork, store: ExportStore, principal: Principal,
              job_id: UUID) -> tuple[dict[str, Any], Generator[bytes, None, None]]:
    """The finished file's bytes (local mode's stand-in for the presigned GET)."""
    with uow:
        row = _finished(uow, principal, job_id)
    return row, store.read(row["object_key"])


# --- the worker ------------------------------------------------------------------------------------

def run_job(uow: UnitOfWork, store: ExportStore, locks: JobLocks, job_id: UUID, *,
            time_left: Callable[[], float], crash_after_parts: int | None = None) -> str:
    """Run (or continue) a job: succeeded, requeued (out of time), retrying (the run failed; the job is
    queued again with a delay), failed (its third failed attempt), skipped (finished or unknown).
    Raises Busy while another delivery runs it (the record is reported and retried).

    ``time_left`` is the invocation's remaining seconds; ``crash_after_parts`` (tests) makes the
    process "die" after that many parts of this run were committed."""
    with locks.hold(f"export_job:{job_id}") as held:
        if not held:
            raise Busy(f"export job {job_id} is running elsewhere")
        with uow:
            row = uow.export_jobs.get(job_id, for_update=True)
            if row is None or row["status"] in ("succeeded", "failed"):
                return "skipped"
            crashed = bool(row["run_open"])  # the lock is ours: an open run is one that died
            if crashed and rules.is_final(row["attempts"] + 1):
                uow.export_jobs.record_failure(job_id, error="the job's runs stopped without finishing",
                                               final=True, now=uow.clock.now())
                _abort(store, row)
                return "failed"
            row = uow.export_jobs.claim(job_id, crashed=crashed, now=uow.clock.now())
        try:
            return _write(uow, store, row, time_left, crash_after_parts)
        except Exception as exc:
            attempts = int(row["attempts"]) + 1
            final = rules.is_final(attempts)
            with uow:
                uow.export_jobs.record_failure(job_id, error=f"{type(exc).__name__}: {exc}", final=final,
                                               now=uow.clock.now())
                if not final:  # retried from its checkpoint soon, not after the queue's visibility timeout
                    uow.outbox.enqueue(TOPIC, {"job_id": str(job_id)}, delay_seconds=rules.retry_delay_s(attempts))
            if not final:
                logger.warning("export job run failed; retrying", exc_info=True,
                               extra={"job_id": str(job_id), "attempts": attempts})
                return "retrying"
            logger.exception("export job failed for good", extra={"job_id": str(job_id)})
            _abort(store, row)
            return "failed"


def _abort(store: ExportStore, row: dict[str, Any]) -> None:
    if row["upload_id"]:
        try:
            store.abort_upload(row["object_key"], row["upload_id"])
        except Exception:  # the bucket's lifecycle rule removes incomplete uploads anyway
            logger.warning("export job upload not aborted", extra={"job_id": str(row["id"])})


def _write(uow: UnitOfWork, store: ExportStore, row: dict[str, Any], time_left: Callable[[], float],
           crash_after_parts: int | None) -> str:
    job_id, key = row["id"], row["object_key"]
    request = request_of(row)
    start, end = bounds(request, as_of=row["as_of"])
    upload_id = row["upload_id"]
    if upload_id is None:
        upload_id = store.start_upload(key, content_type=request.media_type)
        with uow:
            uow.export_jobs.begin_upload(job_id, upload_id=upload_id, now=uow.clock.now())
    parts: list[dict[str, Any]] = list(row["parts"])
    rows, written, cursor = int(row["rows"]), int(row["bytes"]), row["cursor"]
    if row["all_parts"]:  # the last run died after its last part: only joining them remains
        return _complete(uow, store, row, upload_id, parts, rows=rows, written=written)
    buffer = bytearray(exports.head(request.kind, request.fmt).encode() if not parts else b"")
    buffered_rows = 0
    committed_this_run = 0
    began = time.perf_counter()
    while True:
        with uow:
            page = uow.exports.page(request.kind, start=start, end=end, after=cursor, limit=rules.PAGE_ROWS)
        if page:
            text = exports.encode_rows(request.kind, page, request.fmt, first=rows + buffered_rows == 0)
            buffer.extend(text.encode("utf-8"))
            buffered_rows += len(page)
            cursor = rules.cursor_of(request.kind, page[-1])
        last = len(page) < rules.PAGE_ROWS
        if last:
            buffer.extend(exports.tail(request.fmt, any_rows=rows + buffered_rows > 0).encode())
        if not (rules.should_cut(len(buffer)) or last):
            continue
        if buffer or not parts:
            number = len(parts) + 1
            part = {"PartNumber": number, "ETag": store.upload_part(key, upload_id, number, bytes(buffer))}
            rows, written = rows + buffered_rows, written + len(buffer)
            with uow:
                uow.export_jobs.checkpoint(job_id, part=part, cursor=cursor, rows=rows, bytes_=written, last=last,
                                           now=uow.clock.now())
            parts.append(part)
            buffer.clear()
            buffered_rows = 0
            committed_this_run += 1
        if last:
            outcome = _complete(uow, store, row, upload_id, parts, rows=rows, written=written)
            logger.info("export job written", extra={"job_id": str(job_id), "rows": rows, "bytes": written,
                                                     "parts": len(parts),
                                                     "seconds": round(time.perf_counter() - began, 3)})
            return outcome
        if crash_after_parts is not None and committed_this_run >= crash_after_parts:
            raise SimulatedCrash(f"simulated crash after {committed_this_run} parts")
        if not rules.has_time(time_left()):
            with uow:
                uow.export_jobs.release(job_id, now=uow.clock.now())
                uow.outbox.enqueue(TOPIC, {"job_id": str(job_id)}, delay_seconds=REQUEUE_DELAY_S)
            logger.info("export job queued again", extra={"job_id": str(job_id), "rows": rows, "parts": len(parts)})
            return "requeued"


def _complete(uow: UnitOfWork, store: ExportStore, row: dict[str, Any], upload_id: str,
              parts: list[dict[str, Any]], *, rows: int, written: int) -> str:
    """Join the parts into the object and mark the job succeeded. A run that died after joining them
    and before recording it finds the object whole (S3 no longer knows the upload)."""
    try:
        store.complete_upload(row["object_key"], upload_id, parts)
    except Exception:
        if store.size(row["object_key"]) != written:
            raise
    with uow:
        now = uow.clock.now()
        uow.export_jobs.succeed(row["id"], rows=rows, bytes_=written, expires_at=rules.expires_at(now), now=now)
    return "succeeded"
