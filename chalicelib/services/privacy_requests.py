"""Use cases of data-subject requests on the API side: file, read, list, approve, download, audit.

Nothing here runs a job: filing an export (or approving an erasure) writes the request and its
outbox message in one transaction; the privacy-request worker does the work.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from chalicelib.domain import privacy
from chalicelib.domain.blobs import DownloadLink
from chalicelib.domain.errors import Conflict, Forbidden, Gone, NotFound, RateLimited, ValidationFailed
from chalicelib.domain.principal import Principal
from chalicelib.services.ports import BlobStore, LocalUploadStore
from chalicelib.services.unit_of_work import UnitOfWork

TOPIC = "privacy_request"
EXPORT_PREFIX = "exports"


def _caller(principal: Principal) -> privacy.Caller:
    return privacy.Caller(role=principal.role, agent_id=str(principal.agent_id) if principal.agent_id else None,
                          owner_id=str(principal.owner_id) if principal.owner_id else None)


def _subject(row: dict[str, Any]) -> privacy.Subject:
    return privacy.Subject(id=str(row["id"]), kind=row["kind"], owner_id=str(row["owner_id"]))


def _request_subject(row: dict[str, Any]) -> privacy.Subject:
    # The request row knows the subject's kind; its owner matters only while the subject exists.
    return privacy.Subject(id=str(row["subject_id"]), kind=row["subject_kind"], owner_id=str(row.get("owner_id")))


def _owner_of(uow: UnitOfWork, request: dict[str, Any]) -> dict[str, Any]:
    subject = uow.privacy.get_subject(request["subject_id"])
    return {**request, "owner_id": subject["owner_id"] if subject else None}


# --- export store ---------------------------------------------------------------------------------


def export_key(request_id: UUID) -> str:
    """Unguessable even to someone who knows the request id."""
    return f"{EXPORT_PREFIX}/{request_id}-{secrets.token_hex(16)}.zip"


# --- filing ---------------------------------------------------------------------------------------


def file_request(uow: UnitOfWork, principal: Principal, *, type_: privacy.RequestType, subject_id: UUID | None,
                 reason: str | None, now: datetime | None = None) -> dict[str, Any]:
    """A new request for the caller's own data (or, for an admin, anyone's). An export is queued at once;
    an erasure waits for an admin's approval. One open request per subject and type (409)."""
    now = now or uow.clock.now()
    caller = _caller(principal)
    if principal.role == "admin":
        if subject_id is None:
            raise ValidationFailed("an admin names the subject", details=[{"field": "subject_id",
                                                                           "message": "required for admin keys"}])
        if not reason:
            raise ValidationFailed("an admin gives a reason", details=[{"field": "reason",
                                                                        "message": "required for admin keys"}])
    target = subject_id or principal.agent_id
    assert target is not None
    with uow:
        subject = uow.privacy.get_subject(target)
        if subject is None or subject["status"] == "deleted":
            raise NotFound("subject not found")
        if not privacy.may_request(caller, _subject(subject)):
            raise NotFound("subject not found")  # never confirm that someone else exists
        if type_ == "export" and principal.role != "admin":
            recent = uow.privacy.filed_since(target, "export", now - privacy.EXPORT_WINDOW)
            retry_after = privacy.export_retry_after(recent, now)
            if retry_after is not None:
                raise RateLimited("export limit reached", retry_after_s=retry_after, details={
                    "limit": "exports_per_subject_per_day", "max": privacy.EXPORTS_PER_DAY,
                    "window_seconds": int(privacy.EXPORT_WINDOW.total_seconds())})
        request_id = uuid4()
        row = uow.privacy.insert_request(
            request_id=request_id, type_=type_, subject_id=target, subject_kind=subject["kind"],
            requested_by=principal.actor, on_behalf=principal.role == "admin", reason=reason,
            approval_required=privacy.needs_approval(type_),
        )
        if row is None:
            raise Conflict(f"the subject already has an open {type_} request")
        uow.privacy.audit(action="request", actor=principal.actor, request_id=request_id, subject_id=target,
                           details={"type": type_, "on_behalf": principal.role == "admin", "reason": reason}, now=now)
        if not row["approval_required"]:
            uow.outbox.enqueue(TOPIC, {"request_id": str(request_id)})
    return row


def approve(uow: UnitOfWork, principal: Principal, request_id: UUID, *, reason: str,
            now: datetime | None = None) -> dict[str, Any]:
    """An admin approves a pending erasure (with a reason); the job is queued in the same transaction."""
    now = now or uow.clock.now()
    with uow:
        row = uow.privacy.get_request(request_id, for_update=True)
        if row is None:
            raise NotFound("privacy request not found")
        if not row["approval_required"]:
            raise Conflict("this request needs no approval")
        if row["approved_at"] is not None:
            raise Conflict("this request is already approved")
        if row["status"] != "pending":
            raise Conflict(f"this request is {row['status']}")
        if not privacy.may_approve(principal.actor, row["requested_by"]):
            raise Forbidden("another admin approves an erasure filed by you")
        row = uow.privacy.approve(request_id, actor=principal.actor, reason=reason, now=now)
        uow.privacy.audit(action="approve", actor=principal.actor, request_id=request_id,
                           subject_id=row["subject_id"], details={"reason": reason}, now=now)
        uow.outbox.enqueue(TOPIC, {"request_id": str(request_id)})
    return row


# --- reading --------------------------------------------------------------------------------------


def get_request(uow: UnitOfWork, principal: Principal, request_id: UUID) -> dict[str, Any]:
    with uow:
        row = uow.privacy.get_request(request_id)
        if row is None:
            raise NotFound("privacy request not found")
        row = _owner_of(uow, row)
    if not privacy.may_read(_caller(principal), _request_subject(row)):
        raise NotFound("privacy request not found")
    return row


def list_requests(uow: UnitOfWork, *, type_: str | None, status: str | None, subject_id: UUID | None,
                  awaiting_approval: bool | None, after: tuple[datetime, UUID] | None,
                  limit: int) -> list[dict[str, Any]]:
    with uow:
        return uow.privacy.list_requests(type_=type_, status=status, subject_id=subject_id,
                                          awaiting_approval=awaiting_approval, after=after, limit=limit)


def audit_log(uow: UnitOfWork, *, request_id: UUID | None, subject_id: UUID | None, action: str | None,
              after: tuple[datetime, int] | None, limit: int) -> list[dict[str, Any]]:
    with uow:
        return uow.privacy.audit_entries(request_id=request_id, subject_id=subject_id, action=action,
                                          after=after, limit=limit)


# --- downloading ----------------------------------------------------------------------------------


def download_link(uow: UnitOfWork, store: BlobStore, principal: Principal, request_id: UUID, *,
                  now: datetime | None = None) -> DownloadLink:
    """A short-lived link to the subject's export: only the subject gets one, and only until it expires."""
    now = now or uow.clock.now()
    with uow:
        row = uow.privacy.get_request(request_id)
        if row is None:
            raise NotFound("privacy request not found")
        row = _owner_of(uow, row)
        subject = _request_subject(row)
        caller = _caller(principal)
        if not privacy.may_read(caller, subject):
            raise NotFound("privacy request not found")
        if not privacy.may_download(caller, subject):
            raise Forbidden("only the subject downloads an export")
        if row["type"] != "export":
            raise Conflict("only an export has a download")
        if row["status"] != "completed" or row["export_key"] is None:
            raise Conflict(f"the export is {row['status']}")
        if row["export_deleted_at"] is not None or row["export_expires_at"] <= now:
            raise Gone("the export has expired; file a new request")
        ttl = min(privacy.DOWNLOAD_LINK_TTL_S, int((row["export_expires_at"] - now).total_seconds()))
        link = store.presign_download(row["export_key"], expires_s=max(ttl, 1))
        uow.privacy.audit(action="download", actor=principal.actor, request_id=request_id,
                           subject_id=row["subject_id"], details={"link_expires_at": link.expires_at}, now=now)
    return link


def serve_export(uow: UnitOfWork, store: BlobStore, request_id: UUID, token: str, *,
                 now: datetime | None = None) -> bytes:
    """Local mode's stand-in for a presigned S3 GET of an export."""
    now = now or uow.clock.now()
    if not isinstance(store, LocalUploadStore):
        raise NotFound("not found")
    with uow:
        row = uow.privacy.get_request(request_id)
    if row is None or row["export_key"] is None:
        raise NotFound("export not found")
    if not store.verify(token, row["export_key"], "download"):
        raise Forbidden("the download link is invalid or has expired")
    if row["export_deleted_at"] is not None or row["export_expires_at"] <= now:
        raise Gone("the export has expired")
    return store.get(row["export_key"])
