"""The privacy stage: clean one quarantined photo, publish the processed copy, and queue a pair's
verification once both its photos are ready.

Duplicates: the evidence row's state is the deduplication key, not the message. The same photo
can legitimately arrive through two kinds of message (the S3 notification and an operator's retry
through the outbox), so a claim token on the row decides who may finish it, and a finished or
rejected row ignores every later message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4

from chalicelib.config import get_settings
from chalicelib.domain import hyperlocal
from chalicelib.domain.blobs import BlobNotFound
from chalicelib.domain.hyperlocal import PhotoProcessor, PhotoRefused
from chalicelib.observability import logger, metrics
from chalicelib.services.evidence_upload import MAX_RETRIES, processed_key, quarantine_key
from chalicelib.services.ports import BlobStore
from chalicelib.services.unit_of_work import UnitOfWork

StageOutcome = Literal["ready", "rejected", "duplicate", "in_progress", "unknown", "lost"]


def process_evidence(uow: UnitOfWork, store: BlobStore, evidence_id: UUID, process: PhotoProcessor, *,
                     now: datetime | None = None) -> StageOutcome:
    """Clean one quarantined photo: claim it, process it outside any transaction, store the processed
    copy, record what was removed and blurred (and the coarse location) and delete the original.

    Any failure of the processing, a detector error included, rejects the photo: it is never
    published and never counted as "nothing found". A duplicate message changes nothing.
    """
    settings = get_settings()
    now = now or datetime.now(UTC)
    key = quarantine_key(evidence_id)
    lease = timedelta(seconds=settings.privacy_lease_s)
    token = uuid4()
    blur = True
    outcome: StageOutcome | None = None  # None: claimed by this call
    with uow:
        row = uow.evidence.get(evidence_id, for_update=True)
        if row is None:
            outcome = "unknown"
        elif row["status"] == "quarantined" or (
                row["status"] == "processing" and row["processing_started_at"] < now - lease):
            blur = bool(uow.flags.current()["PRIVACY_BLUR_ENABLED"])
            uow.evidence.claim(evidence_id, token=token, now=now)
        elif row["status"] == "processing":
            outcome = "in_progress"
        else:
            outcome = "duplicate"
    if outcome is not None:
        if row is None or row["status"] == "ready":
            # Nobody registered this object, or it is a second upload of a finished photo: never kept.
            store.delete(key)
        logger.info("privacy stage skipped", extra={"evidence_id": str(evidence_id), "outcome": outcome})
        return outcome
    assert row is not None
    if row["correlation_id"]:  # an S3 notification carries none: continue the flow of the upload request
        logger.thread_safe_append_keys(correlation_id=row["correlation_id"])

    failure: tuple[str, str] | None = None
    clean = None
    try:
        original = store.get(key)
        if len(original) > settings.evidence_max_bytes:
            raise PhotoRefused("too_large", "the photo is larger than the upload limit")
        if hyperlocal.sniff_photo_type(original) != row["content_type"]:  # S3 uploads are not sniffed before
            raise PhotoRefused("type_mismatch", f"the bytes are not {row['content_type']} as declared")
        clean = process(original, blur=blur)
        store.put(processed_key(evidence_id, clean.content_type), clean.data, clean.content_type)
    except BlobNotFound:
        failure = ("original_missing", "the upload was not found in quarantine")
    except PhotoRefused as refused:
        failure = (refused.code, refused.message)
    except Exception:
        logger.exception("privacy processing failed", extra={"evidence_id": str(evidence_id)})
        failure = ("processing_error", "the photo could not be processed; an operator may retry it")

    outbox_ids: list[int] = []
    with uow:
        if row["pair_id"] is not None:
            uow.evidence.get_pair(row["pair_id"], for_update=True)  # serialises the pair's two photos
        if failure is not None:
            applied = uow.evidence.mark_rejected(evidence_id, token=token, code=failure[0], message=failure[1])
        else:
            assert clean is not None
            applied = uow.evidence.mark_ready(evidence_id, token=token, now=now, result={
                "key": processed_key(evidence_id, clean.content_type),
                "content_type": clean.content_type,
                "bytes": len(clean.data),
                "width": clean.width,
                "height": clean.height,
                "sha256": clean.sha256,
                "removed": list(clean.removed_metadata),
                "orientation": clean.orientation_applied,
                "blur": blur,
                "faces": clean.faces_blurred,
                "plates": clean.plates_blurred,
                "lat": clean.coarse_location[0] if clean.coarse_location else None,
                "lng": clean.coarse_location[1] if clean.coarse_location else None,
            })
            if applied and row["pair_id"] is not None:
                outbox_ids += _start_verification(uow, row["pair_id"], row["correlation_id"])
    if not applied:
        logger.warning("privacy claim lost", extra={"evidence_id": str(evidence_id)})
        return "lost"
    if failure is None or row["retry_count"] >= MAX_RETRIES:
        # Published (or given up on): the original goes. A rejected photo with retries left keeps it.
        store.delete(key)
        with uow:
            uow.evidence.mark_original_deleted(evidence_id, datetime.now(UTC))
    result: StageOutcome = "rejected" if failure else "ready"
    metrics.add_metric(name="PrivacyReady" if failure is None else "PrivacyRejected", unit="Count", value=1)
    if clean is not None and failure is None:
        metrics.add_metric(name="PrivacyRegionsBlurred", unit="Count",
                           value=clean.faces_blurred + clean.plates_blurred)
    logger.info("privacy stage", extra={"evidence_id": str(evidence_id), "outcome": result,
                                        "code": failure[0] if failure else None})
    return result


def _start_verification(uow: UnitOfWork, pair_id: UUID, correlation_id: str | None) -> list[int]:
    """Once both photos of a pair are ready (the caller holds the pair's lock), queue its verification."""
    live = uow.evidence.live_in_pair(pair_id)
    both_ready = all(seq in live and live[seq]["status"] == "ready" for seq in ("before", "after"))
    if not both_ready or not uow.evidence.start_verification(pair_id):
        return []
    return [uow.outbox.enqueue("privacy", {"task": "verify_pair", "pair_id": str(pair_id)},
                           correlation_id=correlation_id)]
