"""The privacy-request worker: exports and erasures, run from the queue, never inside an API request.

A job is a list of steps. Each step is idempotent and commits on its own, and the request row records
the finished steps: a job that crashed half-way resumes where it stopped when the message comes back.
A job lock (an advisory lock in PostgreSQL) keeps two deliveries of one request from running at once. After
MAX_ATTEMPTS failures a request is marked failed (and the message acknowledged).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from chalicelib.domain import privacy
from chalicelib.domain.blobs import BlobNotFound
from chalicelib.domain.layer_b import ClassifierInput
from chalicelib.domain.ledger import agent_account
from chalicelib.observability import emit, logger
from chalicelib.services.ports import BlobStore, JobLocks
from chalicelib.services.unit_of_work import UnitOfWork

ACTOR = "worker:privacy_request"
BATCH = 500


class Busy(RuntimeError):
    """Another delivery of the same request is running; this one is retried later."""


class Refused(RuntimeError):
    """The request cannot be carried out at all (its subject is gone): it fails at once, without retries."""


@dataclass(frozen=True)
class Stores:
    """Where a job reads and deletes blobs: the evidence store and the store of export archives."""

    blobs: BlobStore
    exports: BlobStore


@dataclass
class Job:
    uow: UnitOfWork
    stores: Stores
    request: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> UUID:
        return UUID(str(self.request["id"]))

    @property
    def subject_id(self) -> UUID:
        return UUID(str(self.request["subject_id"]))

    def done(self, step: str) -> bool:
        return step in self.state.get("done", [])

    def finish_step(self, step: str, steps: list[str], counts: dict[str, int] | None = None) -> None:
        self.state.setdefault("done", []).append(step)
        if counts:
            total = self.state.setdefault("counts", {})
            for k, v in counts.items():
                total[k] = int(total.get(k, 0)) + int(v)
        self.save(progress=privacy.progress(len(self.state["done"]), len(steps)), step=step)

    def save(self, *, progress: int, step: str) -> None:
        with self.uow:
            self.uow.privacy.save_progress(self.id, progress=progress, step=step, state=self.state,
                                           now=self.uow.clock.now())


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
            _export(job, crash_after=crash_after)
        else:
            _erase(job, crash_after=crash_after)
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


def _crash(step: str, crash_after: str | None) -> None:
    if crash_after == step:
        raise RuntimeError(f"simulated crash after {step}")


# --- export ---------------------------------------------------------------------------------------

EXPORT_STEPS = ["collect"]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str, sort_keys=True).encode("utf-8")


def build_export(uow: UnitOfWork, store: BlobStore, subject_id: UUID, *, now: datetime,
                 on_progress: Callable[[int, str], None] | None = None) -> tuple[bytes, dict[str, int]]:
    """The ZIP of everything about the subject, read in one consistent snapshot."""
    report = on_progress or (lambda progress, step: None)
    from chalicelib.services import privacy_originals

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


def _export(job: Job, *, crash_after: str | None) -> None:
    from chalicelib.services.privacy_requests import export_key

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
    _crash("collect", crash_after)
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


# --- erasure --------------------------------------------------------------------------------------

ERASE_STEPS = ["close", "blobs", "ledger", "submissions", "validator", "hyperlocal", "originals", "operator_actions",
               "identifiers", "finish"]


def _erase(job: Job, *, crash_after: str | None) -> None:
    steps: dict[str, Callable[[Job], dict[str, int]]] = {
        "close": _close, "blobs": _blobs, "ledger": _ledger, "submissions": _submissions, "validator": _validator,
        "hyperlocal": _hyperlocal, "originals": _originals, "operator_actions": _operator_actions,
        "identifiers": _identifiers,
    }
    for name in ERASE_STEPS[:-1]:
        if job.done(name):
            continue
        counts = steps[name](job)
        job.finish_step(name, ERASE_STEPS, counts)
        _crash(name, crash_after)
    _finish(job)


def _tombstone(job: Job) -> UUID:
    return UUID(job.state["tombstone_id"])


def _close(job: Job) -> dict[str, int]:
    """The subject stops acting at once; a tombstone identity is made to carry what must stay."""
    uow = job.uow
    with uow:
        subject = uow.privacy.get_subject(job.subject_id)
        if subject is None:
            raise Refused("the subject no longer exists")
        job.state["tombstone_id"] = str(job.request["tombstone_id"] or uuid4())
        uow.privacy.insert_tombstone(tombstone_id=_tombstone(job), kind=subject["kind"], owner_id=uuid4())
        tombstone = uow.privacy.get_subject(_tombstone(job))
        assert tombstone is not None
        job.state["tombstone_owner"] = str(tombstone["owner_id"])
        uow.privacy.set_tombstone(job.id, _tombstone(job))
        revoked = uow.privacy.close_identity(job.subject_id, uow.clock.now())
    return {"keys_revoked": revoked}


def _blobs(job: Job) -> dict[str, int]:
    """Processed photos, any quarantine leftovers, and earlier export archives."""
    from chalicelib.services import evidence_upload as evidence_service

    uow, store = job.uow, job.stores.blobs
    with uow:
        rows = uow.privacy.subject_blob_keys(job.subject_id)
        exports = uow.privacy.subject_exports(job.subject_id)
    deleted = 0
    for row in rows:
        for key in (row["processed_key"], evidence_service.quarantine_key(row["id"])):
            if key:
                store.delete(key)
                deleted += 1
    for e in exports:
        job.stores.exports.delete(e["export_key"])
    if exports:
        with uow:
            uow.privacy.mark_export_deleted([e["id"] for e in exports], uow.clock.now())
    return {"blobs_deleted": deleted, "exports_deleted": len(exports)}


def _ledger(job: Job) -> dict[str, int]:
    """Movements stay (append-only, still balanced) on an account re-pointed to the tombstone; memos go."""
    uow, tombstone = job.uow, _tombstone(job)
    with uow:
        account_id = uow.privacy.repoint_account(job.subject_id, tombstone, agent_account(tombstone))
    scrubbed = 0
    while account_id is not None:
        with uow:
            uow.privacy.enable_erasure()
            n = uow.privacy.scrub_journal_batch(account_id, str(job.subject_id), str(tombstone), BATCH)
        scrubbed += n
        if n < BATCH:
            break
    return {"journal_entries_scrubbed": scrubbed}


def _submissions(job: Job) -> dict[str, int]:
    from chalicelib.domain.layer_b import cache_key

    uow = job.uow
    scrubbed = 0
    while True:
        with uow:
            rows = uow.privacy.submissions_to_scrub(job.subject_id, BATCH)
            if not rows:
                break
            keys = [cache_key(ClassifierInput(kind=r["kind"], title=r["title"], body=r["body"], domain=r["domain"]))
                    for r in rows]
            uow.privacy.scrub_submissions([r["id"] for r in rows], _tombstone(job), keys)
        scrubbed += len(rows)
    return {"submissions_anonymised": scrubbed}


def _validator(job: Job) -> dict[str, int]:
    with job.uow:
        return {"evaluations_anonymised": job.uow.privacy.repoint_validator(job.subject_id, _tombstone(job))}


def _hyperlocal(job: Job) -> dict[str, int]:
    with job.uow:
        counts = job.uow.privacy.erase_hyperlocal(job.subject_id, _tombstone(job))
    return {f"{k}_erased": v for k, v in counts.items()}


def _originals(job: Job) -> dict[str, int]:
    from chalicelib.services import privacy_originals

    with job.uow:
        return privacy_originals.erase_for(job.uow, job.subject_id, _tombstone(job))


def _operator_actions(job: Job) -> dict[str, int]:
    with job.uow:
        key_ids = [k["id"] for k in job.uow.privacy.subject_keys(job.subject_id)]
        return {"operator_actions_scrubbed": job.uow.privacy.scrub_operator_actions(job.subject_id, key_ids),
                "registration_addresses_forgotten": job.uow.privacy.forget_registration_address(job.subject_id)}


def _identifiers(job: Job) -> dict[str, int]:
    """Every other mention of the subject's ids, key ids and key prefixes, in every table, becomes the
    tombstone's (tables added later are covered without a change here)."""
    uow = job.uow
    with uow:
        replacements = _replacements(job)
        columns = uow.privacy.sweepable_columns()
    changed = 0
    # One statement (one pass) and one transaction per table: short locks; a table already swept finds
    # nothing on a resumed run.
    for table, table_columns in columns.items():
        with uow:
            uow.privacy.enable_erasure()
            changed += uow.privacy.sweep_table(table, table_columns, replacements)
    return {"rows_with_identifiers_rewritten": changed}


def _replacements(job: Job) -> dict[str, str]:
    """Inside the caller's `with job.uow:`."""
    uow = job.uow
    subject = uow.privacy.get_subject(job.subject_id)
    tombstone = str(_tombstone(job))
    out = {str(job.subject_id): tombstone}
    if subject is not None and uow.privacy.owner_is_exclusive(job.subject_id, subject["owner_id"]):
        out[str(subject["owner_id"])] = job.state["tombstone_owner"]
    for key in uow.privacy.subject_keys(job.subject_id):
        out[str(key["id"])] = str(uuid4())
        out[key["prefix"]] = "erased"
    return out


def _finish(job: Job) -> None:
    """Delete the identity itself, re-point the requests and audit rows, and announce the erasure."""
    uow, tombstone = job.uow, _tombstone(job)
    with uow:
        uow.privacy.enable_erasure()
        replacements = _replacements(job)
        key_ids = [k["id"] for k in uow.privacy.subject_keys(job.subject_id)]
        # The last mentions (the requests and audit rows written since the sweep).
        uow.privacy.sweep_table("privacy_requests", [("subject_id", "uuid"), ("requested_by", "text")],
                                replacements)
        uow.privacy.sweep_table("privacy_audit_log", [("subject_id", "uuid"), ("actor", "text")], replacements)
        subject = uow.privacy.get_subject(job.subject_id)
        if subject is not None:
            uow.privacy.scrub_name_in_requests(tombstone, subject["name"])
        removed = uow.privacy.delete_identity(job.subject_id, key_ids)
        counts = dict(job.state.get("counts", {}))
        counts.update({f"{k}_deleted": v for k, v in removed.items()})
        state = {"done": ERASE_STEPS, "tombstone_id": str(tombstone)}
        uow.privacy.complete(job.id, result={"counts": counts, "tombstone_id": str(tombstone)}, state=state,
                              now=uow.clock.now())
        uow.privacy.audit(action="erase", actor=ACTOR, request_id=job.id, subject_id=tombstone,
                           details={"counts": counts, "approved_by": job.request["approved_by"]})
        uow.privacy.audit(action="anonymise", actor=ACTOR, request_id=job.id, subject_id=tombstone,
                           details={"kept_under_tombstone": ["ledger movements", "submission decisions",
                                                             "evaluations", "attestations"]})
        uow.outbox.enqueue("privacy_request", {"event": "subject.erased", "request_id": str(job.id),
                                                 "tombstone_id": str(tombstone)})


def handle_event(payload: dict[str, Any]) -> str:
    """Events on the privacy-request queue (today `subject.erased`): recorded in logs and metrics."""
    if payload.get("event") == "subject.erased":
        logger.info("subject erased", extra={"request_id": payload.get("request_id"),
                                             "tombstone_id": payload.get("tombstone_id")})
        return "announced"
    return "ignored"
