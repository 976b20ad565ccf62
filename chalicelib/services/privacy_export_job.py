"""A data-subject export: the ZIP of everything held about the subject, stored for a limited time."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from chalicelib.domain import privacy
from chalicelib.domain.blobs import BlobNotFound
from chalicelib.services import privacy_originals
from chalicelib.services.ports import BlobStore
from chalicelib.services.privacy_job import ACTOR, Job, Refused, simulate_crash
from chalicelib.services.privacy_requests import export_key
from chalicelib.services.unit_of_work import UnitOfWork

EXPORT_STEPS = ["collect"]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str, sort_keys=True).encode("utf-8")


def build_export(uow: UnitOfWork, store: BlobStore, subject_id: UUID, *, now: datetime,
                 on_progress: Callable[[int, str], None] | None = None) -> tuple[bytes, dict[str, int]]:
    """The ZIP of everything about the subject, read in one consistent snapshot."""
    report = on_progress or (lambda progress, step: None)
    seal = uow.cipher()
    with uow:
        uow.repeatable_read()
        account = uow.privacy.export_account(subject_id)
        if account is not None:
            account = privacy_originals.open_account(seal, account)
        submissions = uow.privacy.export_submissions(subject_id)
        originals = privacy_originals.originals_for(uow, [s["id"] for s in submissions])
        evaluations = uow.privacy.export_evaluations(subject_id)
        ledger = uow.privacy.export_ledger(subject_id)
        evidence = privacy_originals.open_evidence(seal, uow.privacy.export_evidence(subject_id))
        attestations = uow.privacy.export_attestations(subject_id)
        consents = privacy_originals.consents_for(uow, subject_id)
        requests = uow.privacy.export_requests(subject_id)
    if account is None:
        raise Refused("the subject no longer exists")
    report(40, "records")
    own = frozenset({str(subject_id), str(account["owner_id"])} | {str(s["id"]) for s in submissions}
                    | {str(e["id"]) for e in evidence} | {str(e["id"]) for e in evaluations})
    for s in submissions:
        s["original"] = originals.get(s["id"])
        s["decision_trail"] = privacy.redact_foreign_ids(s["decision_trail"], own)
    photos: dict[str, bytes] = {}
    for e in evidence:
        key = e.pop("processed_key")
        if key:
            try:
                photos[key.split("/", 1)[1]] = store.get(key)
                e["photo_file"] = "photos/" + key.split("/", 1)[1]
            except BlobNotFound:
                e["photo_file"] = None
        else:
            e["photo_file"] = None
    report(70, "photos")
    counts = {"account": 1, "submissions": len(submissions), "evaluations": len(evaluations), "ledger": len(ledger),
              "evidence": len(evidence), "photos": len(photos), "attestations": len(attestations),
              "consents": len(consents), "privacy_requests": len(requests)}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", privacy.export_readme(str(subject_id), now.isoformat(), counts))
        archive.writestr("account.json", _json_bytes([account]))
        archive.writestr("submissions.json", _json_bytes(submissions))
        archive.writestr("evaluations.json", _json_bytes(evaluations))
        archive.writestr("ledger.json", _json_bytes(ledger))
        archive.writestr("evidence.json", _json_bytes(evidence))
        archive.writestr("attestations.json", _json_bytes(attestations))
        archive.writestr("consents.json", _json_bytes(consents))
        archive.writestr("privacy_requests.json", _json_bytes(requests))
        for name, data in sorted(photos.items()):
            archive.writestr(f"photos/{name}", data, compress_type=zipfile.ZIP_STORED)  # JPEG/PNG: already packed
    report(90, "archive")
    return out.getvalue(), counts


def run_export(job: Job, *, crash_after: str | None) -> None:
    uow, exports = job.uow, job.stores.exports
    now = uow.clock.now()
    key = job.state.get("export_key")
    if key is None:
        # Chosen and saved before the upload: a resumed job overwrites the same object, never orphans one.
        key = export_key(job.id)
        job.state["export_key"] = key
        job.save(progress=10, step="collect")

    def progress(value: int, step: str) -> None:
        job.save(progress=value, step=step)

    data, counts = build_export(uow, job.stores.blobs, job.subject_id, now=now, on_progress=progress)
    exports.put(key, data, "application/zip")
    simulate_crash("collect", crash_after)
    with uow:
        # Serialised with an erasure's first step (which deletes the subject under the same row): an export
        # never completes for a subject whose erasure began; its archive is removed instead.
        subject = uow.privacy.get_subject(job.subject_id, share_lock=True)
        if subject is None or subject["status"] == "deleted":
            exports.delete(key)
            raise Refused("the subject is being erased")
        ttl_hours = int(uow.flags.current()["PRIVACY_EXPORT_TTL_HOURS"])
        expires = now + timedelta(hours=ttl_hours)
        uow.privacy.complete(job.id, result={"counts": counts, "bytes": len(data)},
                             state={"done": EXPORT_STEPS}, now=uow.clock.now(), export_key=key,
                             export_bytes=len(data), export_expires_at=expires)
        uow.privacy.audit(action="export", actor=ACTOR, request_id=job.id, subject_id=job.subject_id,
                           details={"bytes": len(data), "counts": counts, "expires_at": expires})
