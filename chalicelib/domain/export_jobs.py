"""Pure rules of export jobs: when an export becomes a job, who reads a job, how many run at once,
how a job is cut into parts and pages, and when it gives up.

An export whose estimated size passes ``JOB_THRESHOLD_BYTES`` cannot be answered inline behind API
Gateway and Lambda (29 s, 6-10 MB per response): it becomes a job that the export_job worker writes
to S3 in parts of ``PART_BYTES``, reading rows in key order (keyset pagination) from the checkpoint
of its last committed part.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from chalicelib.domain.exports import ExportKind

JobStatus = Literal["queued", "running", "succeeded", "failed"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed")
UNFINISHED: tuple[JobStatus, ...] = ("queued", "running")

JOB_THRESHOLD_BYTES = 5 * 1024 * 1024  # estimated size above which an export is a job
PART_BYTES = 8 * 1024 * 1024  # S3 multipart parts: at least 5 MiB except the last
PAGE_ROWS = 5_000  # rows per keyset page
MAX_ATTEMPTS = 3  # runs that end in an error (or die) before the job fails for good
MAX_UNFINISHED_PER_ADMIN = 2  # queued or running jobs of one admin; the third is 429
RESERVE_S = 60.0  # time a run keeps back: past it the run checkpoints and queues itself again
# A finished file is downloadable this long (the export bucket's lifecycle deletes exports/ after 3 days).
JOB_TTL = timedelta(days=2)
LINK_TTL_S = 300  # a download link opens the file for five minutes
STALLED_AFTER = timedelta(minutes=30)  # an unfinished job unchanged this long has lost its message

# The columns that order each export (and so its keyset cursor), as the rows name them.
KEYS: dict[ExportKind, tuple[str, ...]] = {
    "decisions": ("decided_at", "submission_id"),
    "trends": ("day", "metric", "series"),
    "compliance": ("occurred_at", "trail_id"),
    "ledger": ("leg_id",),
}

SAMPLE_ROWS = 200  # rows encoded to measure an export's bytes per row


def estimate_bytes(*, rows: int, sample_rows: int, sample_bytes: int, frame_bytes: int) -> int:
    """The export's size from a row count (an index count) and the encoded size of a sample of its
    rows; ``frame_bytes`` is the header and closing bytes."""
    if rows <= 0 or sample_rows <= 0:
        return frame_bytes
    return frame_bytes + (rows * sample_bytes + sample_rows - 1) // sample_rows


def needs_job(estimated_bytes: int, threshold: int = JOB_THRESHOLD_BYTES) -> bool:
    return estimated_bytes > threshold


def may_read(requested_by: UUID, caller_key: UUID) -> bool:
    """Only the admin key that asked reads a job, its progress and its file: an export holds every
    agent's texts and money movements, and who asked for what is part of the audit. Another admin
    sees 404 (the job's existence is not disclosed) and starts an export of their own."""
    return requested_by == caller_key


def may_start(unfinished: int) -> bool:
    return unfinished < MAX_UNFINISHED_PER_ADMIN


def should_cut(buffered: int) -> bool:
    """A part is uploaded once the buffer holds at least PART_BYTES (only whole pages are buffered, so
    the checkpoint after a part is the key of its last row)."""
    return buffered >= PART_BYTES


def has_time(seconds_left: float) -> bool:
    """Another page and part fit before the invocation's time runs out."""
    return seconds_left > RESERVE_S


def is_stalled(status: JobStatus, updated_at: datetime, now: datetime) -> bool:
    """An unfinished job that has not moved for STALLED_AFTER: a run writes a part every few seconds,
    so its message was lost (an outbox message parked dead, a queue purged) and it needs another."""
    return status in UNFINISHED and now - updated_at >= STALLED_AFTER


def is_final(attempts: int) -> bool:
    return attempts >= MAX_ATTEMPTS


def retry_delay_s(attempts: int) -> int:
    """How long a job waits after its ``attempts``-th failed run: 30 s, then 60 s (at most 15 min)."""
    return int(min(900, 30 * 2 ** max(0, attempts - 1)))


def cursor_of(kind: ExportKind, row: dict[str, Any]) -> list[Any]:
    """The keyset position of a row, in the order of KEYS[kind] (JSON-ready: times and days as ISO
    strings, ids as strings)."""
    out: list[Any] = []
    for column in KEYS[kind]:
        value = row[column]
        out.append(value.isoformat() if hasattr(value, "isoformat") else
                   str(value) if isinstance(value, UUID) else value)
    return out


def object_key(job_id: UUID, filename: str) -> str:
    """Under exports/ (the prefix the functions may write and the bucket's lifecycle expires)."""
    return f"exports/jobs/{job_id}/{filename}"


def job_id_of_key(key: str) -> UUID | None:
    parts = key.split("/")
    if len(parts) != 4 or parts[:2] != ["exports", "jobs"]:
        return None
    try:
        return UUID(parts[2])
    except ValueError:
        return None


def expires_at(finished_at: datetime) -> datetime:
    return finished_at + JOB_TTL


def progress(rows: int, *, estimated_rows: int, status: JobStatus) -> int:
    """0-100: rows written over the rows estimated when the job began (99 until it has finished)."""
    if status == "succeeded":
        return 100
    if estimated_rows <= 0:
        return 0
    return max(0, min(99, int(100 * rows / estimated_rows)))
