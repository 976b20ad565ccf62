"""Use cases of photo evidence on the uploader's side: register an upload, receive it (local mode),
download the processed copy (local mode), read a photo or a pair, and an operator's retry.

Nothing a human uploads is readable before the privacy stage (``services/privacy_stage.py``) has
run: originals live under ``quarantine/`` (no route ever reads that prefix), only processed copies
under ``processed/`` get download links. A photo the stage cannot clean stays in quarantine,
unreadable, so that an operator can retry it (at most 3 times); its original is deleted when the
last retry fails (and by the bucket's lifecycle rule on ``quarantine/`` in AWS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from chalicelib.config import get_settings
from chalicelib.domain import hyperlocal
from chalicelib.domain.blobs import DownloadLink, UploadTicket
from chalicelib.domain.errors import Conflict, Duplicate, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from chalicelib.domain.hyperlocal import PairRuleBroken, PhotoFacts
from chalicelib.domain.principal import Principal
from chalicelib.observability import logger, metrics
from chalicelib.services import agents as agent_service
from chalicelib.services import missions as mission_service
from chalicelib.services.ports import BlobStore, LocalUploadStore
from chalicelib.services.unit_of_work import UniqueViolation, UnitOfWork

QUARANTINE = "quarantine"
PROCESSED = "processed"
_QUARANTINE_KEY = re.compile(r"^quarantine/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
MAX_RETRIES = hyperlocal.MAX_RETRIES


# --- keys and the store --------------------------------------------------------------------------


def quarantine_key(evidence_id: UUID) -> str:
    return f"{QUARANTINE}/{evidence_id}"


def processed_key(evidence_id: UUID, content_type: str) -> str:
    return f"{PROCESSED}/{evidence_id}.{_EXTENSIONS.get(content_type, 'bin')}"


def evidence_id_from_key(key: str) -> UUID | None:
    """The evidence id of a quarantine key; None for any other key."""
    match = _QUARANTINE_KEY.match(key)
    return UUID(match.group(1)) if match else None


# --- registering an upload -----------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceDraft:
    mission_id: UUID
    sequence: hyperlocal.Sequence
    content_type: str
    size_bytes: int
    captured_at: datetime
    pair_id: UUID | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Registration:
    evidence: dict[str, Any]
    upload: UploadTicket


def register_evidence(uow: UnitOfWork, store: BlobStore, human: Principal, draft: EvidenceDraft, *,
                      correlation_id: str | None = None,
                      now: datetime | None = None) -> Registration:
    """Check the photo's type, size and pair rules, store its record and hand out an upload URL into
    quarantine. An after photo names the pair its before photo opened; a before photo may name a new
    pair id or get one."""
    assert human.agent_id is not None
    settings = get_settings()
    now = now or datetime.now(UTC)
    content_type = hyperlocal.check_photo(draft.content_type, draft.size_bytes, max_bytes=settings.evidence_max_bytes)
    hyperlocal.check_capture_time(draft.captured_at, now)
    if draft.sequence == "standalone" and draft.pair_id is not None:
        raise ValidationFailed("a standalone photo belongs to no pair",
                               details=[{"field": "pair_id", "message": "not allowed for standalone"}])
    if draft.sequence == "after" and draft.pair_id is None:
        raise ValidationFailed("an after photo names the pair of its before photo",
                               details=[{"field": "pair_id", "message": "required for after"}])
    agent_service.enforce_rate_limit(uow, f"evidence:{human.agent_id}", settings.evidence_uploads_per_hour,
                                     window=timedelta(hours=1))
    evidence_id = uuid4()
    try:
        with uow:
            mission = uow.hyperlocal.get_mission(draft.mission_id, for_share=True)
            if mission is None:
                raise NotFound("mission not found")
            if mission["status"] != "open" or mission["expires_at"] <= now:
                raise Conflict("the mission is not open for evidence",
                               details={"status": mission["status"], "expires_at": mission["expires_at"].isoformat()})
            pair_id = None
            if draft.sequence != "standalone":
                pair_id = _place_in_pair(uow, human.agent_id, mission, draft)
            row = uow.evidence.insert({
                "id": evidence_id,
                "mission_id": mission["id"],
                "human_id": human.agent_id,
                "pair_id": pair_id,
                "sequence": draft.sequence,
                "content_type": content_type,
                "size_bytes": draft.size_bytes,
                "captured_at": draft.captured_at,
                "latitude": draft.latitude,
                "longitude": draft.longitude,
                "correlation_id": correlation_id,
                "created_at": now,
            })
    except UniqueViolation:
        # A concurrent request took the slot (or the pair id) first.
        raise Duplicate(f"the pair already has a {draft.sequence} photo", details={"pair_id": str(draft.pair_id)}) \
            from None
    ticket = store.presign_upload(quarantine_key(evidence_id), content_type=content_type,
                                         size_bytes=draft.size_bytes, expires_s=settings.evidence_upload_ttl_s)
    metrics.add_metric(name="EvidenceRegistered", unit="Count", value=1)
    return Registration(evidence=row, upload=ticket)


def _place_in_pair(uow: UnitOfWork, human_id: UUID, mission: dict[str, Any], draft: EvidenceDraft) -> UUID:
    """The pair the photo joins, after checking one before, one after, the order, time and distance."""
    criteria = mission_service.pair_criteria(mission)
    photo = PhotoFacts(draft.captured_at, draft.latitude, draft.longitude)
    hyperlocal.check_pair_photo(photo, criteria)
    pair_id = draft.pair_id or uuid4()
    pair = uow.evidence.get_pair(pair_id, for_update=True)
    if pair is None:
        if draft.sequence == "after":
            raise PairRuleBroken("the before photo comes first: no pair with this id has one",
                                 details={"rule": "order", "pair_id": str(pair_id)})
        uow.evidence.insert_pair(pair_id=pair_id, mission_id=mission["id"], human_id=human_id)
        return pair_id
    if pair["human_id"] != human_id:
        raise NotFound("pair not found")
    if pair["mission_id"] != mission["id"]:
        raise Conflict("the pair belongs to another mission", details={"pair_id": str(pair_id)})
    live = uow.evidence.live_in_pair(pair_id)
    if draft.sequence in live:
        raise Duplicate(f"the pair already has a {draft.sequence} photo",
                        details={"pair_id": str(pair_id), "evidence_id": str(live[draft.sequence]["id"])})
    other = live.get("before" if draft.sequence == "after" else "after")
    if other is None:
        if draft.sequence == "after":
            raise PairRuleBroken("the before photo comes first", details={"rule": "order", "pair_id": str(pair_id)})
        return pair_id
    other_facts = PhotoFacts(other["captured_at"], other["latitude"], other["longitude"])
    before, after = (photo, other_facts) if draft.sequence == "before" else (other_facts, photo)
    hyperlocal.check_pair(before, after, criteria)
    return pair_id


# --- local uploads and downloads -----------------------------------------------------------------


def _local_store_or_404(store: BlobStore) -> LocalUploadStore:
    if not isinstance(store, LocalUploadStore):
        raise NotFound("uploads and downloads go straight to the evidence bucket")
    return store


@dataclass(frozen=True)
class Received:
    evidence: dict[str, Any]
    outbox_ids: tuple[int, ...]


def receive_upload(uow: UnitOfWork, store: BlobStore, evidence_id: UUID, token: str, *, content_type: str,
                   data: bytes, correlation_id: str | None = None, now: datetime | None = None) -> Received:
    """Local mode's stand-in for the presigned S3 PUT: check the token and the declared type and
    length, store into quarantine, and send the photo to the privacy stage (the S3 notification's job
    in AWS). The caller relays the outbox ids."""
    local = _local_store_or_404(store)
    now = now or datetime.now(UTC)
    with uow:
        row = uow.evidence.get(evidence_id)
    key = quarantine_key(evidence_id)
    if row is None or not local.verify(token, key, "upload", content_type=row["content_type"],
                                       size_bytes=row["size_bytes"]):
        raise Forbidden("the upload link is invalid or has expired")
    if content_type.split(";", 1)[0].strip().lower() != row["content_type"]:
        raise hyperlocal.UnsupportedPhotoType(f"the upload must be sent as {row['content_type']}, as declared",
                                              details={"declared": row["content_type"]})
    if len(data) > row["size_bytes"]:
        raise PayloadTooLarge("the upload is longer than the declared size_bytes",
                              details={"size_bytes": row["size_bytes"], "received": len(data)})
    if len(data) != row["size_bytes"]:
        raise ValidationFailed("the upload is shorter than the declared size_bytes",
                               details={"size_bytes": row["size_bytes"], "received": len(data)})
    if row["uploaded_at"] is not None or row["status"] != "quarantined":
        raise Conflict("this photo was already uploaded")
    hyperlocal.check_photo_bytes(row["content_type"], data)
    local.put(key, data, row["content_type"])
    with uow:
        if not uow.evidence.mark_uploaded(evidence_id, now):
            raise Conflict("this photo was already uploaded")
        message = uow.outbox.enqueue("privacy", {"task": "process_photo", "evidence_id": str(evidence_id)},
                                     correlation_id=row["correlation_id"] or correlation_id)
        updated = uow.evidence.get(evidence_id)
    assert updated is not None
    return Received(evidence={**updated, "download": None}, outbox_ids=(message,))


def download(uow: UnitOfWork, store: BlobStore, evidence_id: UUID, token: str) -> tuple[bytes, str]:
    """Local mode's stand-in for a presigned S3 GET: the processed photo only, never the original."""
    local = _local_store_or_404(store)
    with uow:
        row = uow.evidence.get(evidence_id)
    if row is None or row["status"] != "ready":
        raise NotFound("evidence not found")
    if not local.verify(token, row["processed_key"], "download"):
        raise Forbidden("the download link is invalid or has expired")
    return local.get(row["processed_key"]), row["processed_content_type"]


# --- reading -------------------------------------------------------------------------------------


def _may_read(caller: Principal, human_id: UUID, mission: dict[str, Any] | None) -> bool:
    if caller.role == "admin":
        return True
    if caller.agent_id is None:
        return False
    return caller.agent_id == human_id or (mission is not None and mission["creator_agent_id"] == caller.agent_id)


def _with_link(store: BlobStore, row: dict[str, Any]) -> dict[str, Any]:
    link: DownloadLink | None = None
    if row["status"] == "ready":
        link = store.presign_download(row["processed_key"], expires_s=get_settings().evidence_download_ttl_s)
    return {**row, "download": link}


def get_evidence(uow: UnitOfWork, store: BlobStore, caller: Principal, evidence_id: UUID) -> dict[str, Any]:
    """The record: status, what the privacy stage removed and blurred, and a download link to the
    processed photo once it is ready. The uploader, the mission's creator and admins may read it."""
    with uow:
        row = uow.evidence.get(evidence_id)
        mission = uow.hyperlocal.get_mission(row["mission_id"]) if row else None
    if row is None or not _may_read(caller, row["human_id"], mission):
        raise NotFound("evidence not found")
    return _with_link(store, row)


def get_pair(uow: UnitOfWork, store: BlobStore, caller: Principal, pair_id: UUID) -> dict[str, Any]:
    """A pair with its live before and after photos and its verification."""
    with uow:
        pair = uow.evidence.get_pair(pair_id)
        mission = uow.hyperlocal.get_mission(pair["mission_id"]) if pair else None
        photos = uow.evidence.pair_photos(pair_id) if pair else []
    if pair is None or not _may_read(caller, pair["human_id"], mission):
        raise NotFound("pair not found")
    assert mission is not None
    live = {p["sequence"]: p for p in photos if p["status"] != "rejected"}
    return {
        **pair,
        "before": _with_link(store, live["before"]) if "before" in live else None,
        "after": _with_link(store, live["after"]) if "after" in live else None,
        "rejected_photos": [p["id"] for p in photos if p["status"] == "rejected"],
        "criteria": mission_service.pair_criteria(mission),
    }


# --- admin retry ---------------------------------------------------------------------------------


def retry(uow: UnitOfWork, store: BlobStore, admin: Principal, evidence_id: UUID, *, correlation_id: str | None = None,
          now: datetime | None = None) -> dict[str, Any]:
    """Send a rejected photo (or one stuck in processing past the lease) through the privacy stage
    again; at most MAX_RETRIES times, and only while its original is still in quarantine."""
    now = now or datetime.now(UTC)
    lease = timedelta(seconds=get_settings().privacy_lease_s)
    with uow:
        row = uow.evidence.get(evidence_id, for_update=True)
        if row is None:
            raise NotFound("evidence not found")
        stuck = row["status"] == "processing" and row["processing_started_at"] < now - lease
        if row["status"] != "rejected" and not stuck:
            raise Conflict("only rejected photos can be retried", details={"status": row["status"]})
        if row["retry_count"] >= MAX_RETRIES:
            raise Conflict(f"this photo has been retried {MAX_RETRIES} times already",
                           details={"retries": row["retry_count"], "max_retries": MAX_RETRIES})
        if row["original_deleted_at"] is not None or not store.exists(quarantine_key(evidence_id)):
            raise Conflict("the original is no longer in quarantine; the photo must be uploaded again")
        uow.evidence.requeue(evidence_id)
        uow.outbox.enqueue("privacy", {"task": "process_photo", "evidence_id": str(evidence_id)},
                                 correlation_id=correlation_id)
        updated = uow.evidence.get(evidence_id)
    assert updated is not None
    logger.info("evidence retry", extra={"evidence_id": str(evidence_id), "actor": admin.actor,
                                         "retry": updated["retry_count"]})
    return _with_link(store, updated)
