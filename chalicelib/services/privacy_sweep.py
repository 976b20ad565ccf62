"""Nothing stays in the privacy stage: every minute, photos whose lease ran out go through it again.

A photo is claimed by one worker for the lease (PRIVACY_LEASE_S); a second message for it inside the
lease is acknowledged without work, so that two workers never process the same photo. If the
claiming worker then dies (a timeout, a crash, a failed final write) or the only message is lost,
no message is left to finish the photo. This sweep is what finishes it: a photo claimed, uploaded
or sent again more than a lease ago, with no unsent message on its way, is put back in quarantine
and sent to the stage again, at most MAX_STAGE_REQUEUES times; after that it is rejected with the
reason ``stage_timeout`` (its original kept for an operator's retry while retries are left).
Uploads that went straight to S3 and whose notification never came are found by looking for
their objects during the upload link's lifetime.

So a photo reaches ``ready`` or ``rejected`` within its lease plus one sweep (plus one pass of the
stage when it is sent again); worker health lists photos later than that and the ``late_photos``
alert rule fires on them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.observability import logger, metrics
from chalicelib.services.evidence_upload import MAX_RETRIES, quarantine_key
from chalicelib.services.ports import BlobStore
from chalicelib.services.unit_of_work import UnitOfWork

MAX_STAGE_REQUEUES = 2  # two more passes after the first; then the photo is rejected
SWEEP_EVERY = timedelta(minutes=1)  # the schedule's cadence: how late a photo may be before it counts as late
TIMEOUT_CODE = "stage_timeout"
TIMEOUT_MESSAGE = "the privacy stage did not finish this photo after {n} attempts; an operator may retry it"
_BATCH = 100


def lease() -> timedelta:
    return timedelta(seconds=get_settings().privacy_lease_s)


def late_cutoff(now: datetime) -> datetime:
    """A photo whose lease started before this is late: the lease and one sweep have gone by."""
    return now - lease() - SWEEP_EVERY


def sweep_late_photos(uow: UnitOfWork, store: BlobStore, *, now: datetime | None = None) -> dict[str, int]:
    """Send photos whose lease ran out to the stage again, or reject those sent too often."""
    now = now or uow.clock.now()
    settings = get_settings()
    cutoff = now - lease()
    found = 0
    with uow:
        unannounced = uow.evidence.unannounced_uploads(
            created_after=now - timedelta(seconds=settings.evidence_upload_ttl_s) - lease() - 10 * SWEEP_EVERY,
            created_before=cutoff, limit=_BATCH)
    arrived = [evidence_id for evidence_id in unannounced if store.exists(quarantine_key(evidence_id))]
    requeued: list[UUID] = []
    rejected: list[dict[str, Any]] = []
    with uow:
        for evidence_id in arrived:
            row = uow.evidence.get(evidence_id, for_update=True)
            if row is None or row["status"] != "quarantined" or row["uploaded_at"] is not None:
                continue  # its notification came meanwhile
            found += 1
            _send_again(uow, row, now)
            requeued.append(evidence_id)
        for row in uow.evidence.late_photos(cutoff=cutoff, limit=_BATCH):
            if row["stage_requeues"] >= MAX_STAGE_REQUEUES:
                uow.evidence.mark_rejected(row["id"], token=None, code=TIMEOUT_CODE,
                                           message=TIMEOUT_MESSAGE.format(n=row["stage_requeues"] + 1))
                rejected.append(row)
            else:
                _send_again(uow, row, now)
                requeued.append(row["id"])
    for row in rejected:
        if row["retry_count"] >= MAX_RETRIES:  # no retry left: the original goes, as in the stage
            store.delete(quarantine_key(row["id"]))
            with uow:
                uow.evidence.mark_original_deleted(row["id"], now)
    for evidence_id in requeued:
        logger.warning("privacy stage late: photo sent again", extra={"evidence_id": str(evidence_id)})
    for row in rejected:
        logger.warning("privacy stage late: photo rejected", extra={"evidence_id": str(row["id"]),
                                                                   "code": TIMEOUT_CODE})
    if requeued:
        metrics.add_metric(name="PrivacyPhotosSentAgain", unit="Count", value=len(requeued))
    if rejected:
        metrics.add_metric(name="PrivacyPhotosTimedOut", unit="Count", value=len(rejected))
    return {"requeued": len(requeued), "rejected": len(rejected), "unannounced_found": found}


def _send_again(uow: UnitOfWork, row: dict[str, Any], now: datetime) -> None:
    uow.evidence.requeue_late(row["id"], now)
    uow.outbox.enqueue("privacy", {"task": "process_photo", "evidence_id": str(row["id"])},
                       correlation_id=row["correlation_id"])
