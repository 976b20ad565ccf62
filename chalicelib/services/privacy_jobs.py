"""The privacy-request worker: exports and erasures, run from the queue, never inside an API request.

A job is a list of steps. Each step is idempotent and commits on its own, and the request row records
the finished steps: a job that crashed half-way resumes where it stopped when the message comes back.
A PostgreSQL advisory lock keeps two deliveries of one request from running at once. After
MAX_ATTEMPTS failures a request is marked failed (and the message acknowledged).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from chalicelib.adapters import flags_repo, outbox, privacy_repo
from chalicelib.adapters.blob_store import BlobNotFound
from chalicelib.db.pool import get_pool, transaction
from chalicelib.domain import privacy
from chalicelib.domain.layer_b import ClassifierInput
from chalicelib.domain.ledger import agent_account
from chalicelib.observability import emit, logger

ACTOR = "worker:privacy_request"
BATCH = 500


class Busy(RuntimeError):
    """Another delivery of the same request is running; this one is retried later."""


class Refused(RuntimeError):
    """The request cannot be carried out at all (its subject is gone): it fails at once, without retries."""


@dataclass
class Job:
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
        with transaction() as conn:
            privacy_repo.save_progress(conn, self.id, progress=privacy.progress(len(self.state["done"]), len(steps)),
                                       step=step, state=self.state, now=datetime.now(UTC))


@contextmanager
def _exclusive(request_id: UUID) -> Iterator[None]:
    """Session-level advisory lock on the request, held while the job runs (released if the process dies)."""
    with get_pool().connection() as conn:
        conn.autocommit = True
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS ok",
                               (str(request_id),)).fetchone()
            if not row or not row["ok"]:
                raise Busy(f"privacy request {request_id} is running elsewhere")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (str(request_id),))
        finally:
            conn.autocommit = False


def run_request(request_id: UUID, *, crash_after: str | None = None) -> str:
    """Run (or resume) one request. Returns what happened: completed, skipped, or failed.

    ``crash_after`` (tests) raises right after the named step committed, as a crash would.
    """
    with _exclusive(request_id):
        now = datetime.now(UTC)
        with transaction() as conn:
            row = privacy_repo.get_request(conn, request_id, for_update=True)
            if row is None or row["status"] in ("completed", "failed"):
                return "skipped"
            if row["approval_required"] and row["approved_at"] is None:
                return "skipped"  # an erasure never runs before its approval
            first = row["status"] == "pending"
            row = privacy_repo.start(conn, request_id, now)
            if first:
                privacy_repo.audit(conn, action="start", actor=ACTOR, request_id=request_id,
                                   subject_id=row["subject_id"], details={"type": row["type"]}, now=now)
        job = Job(row, dict(row["state"] or {}))
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
            with transaction() as conn:
                privacy_repo.record_failure(conn, request_id, error=f"{type(exc).__name__}: {exc}", final=final,
                                            now=datetime.now(UTC))
                if final:
                    privacy_repo.audit(conn, action="fail", actor=ACTOR, request_id=request_id,
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


def build_export(subject_id: UUID, *, now: datetime,
                 on_progress: Callable[[int, str], None] | None = None) -> tuple[bytes, dict[str, int]]:
    """The ZIP of everything about the subject, read in one consistent snapshot."""
    report = on_progress or (lambda progress, step: None)
    from chalicelib.services import evidence as evidence_service
    from chalicelib.services import privacy_originals

    with get_pool().connection() as conn:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            account = privacy_repo.export_account(conn, subject_id)
            if account is not None:
                account = privacy_originals.open_account(account)
            submissions = privacy_repo.export_submissions(conn, subject_id)
            originals = privacy_originals.originals_for(conn, [s["id"] for s in submissions])
            evaluations = privacy_repo.export_evaluations(conn, subject_id)
            ledger = privacy_repo.export_ledger(conn, subject_id)
            evidence = privacy_originals.open_evidence(privacy_repo.export_evidence(conn, subject_id))
            attestations = privacy_repo.export_attestations(conn, subject_id)
            consents = privacy_originals.consents_for(conn, subject_id)
            requests = privacy_repo.export_requests(conn, subject_id)
    if account is None:
        raise Refused("the subject no longer exists")
    report(40, "records")
    own = frozenset({str(subject_id), str(account["owner_id"])} | {str(s["id"]) for s in submissions}
                    | {str(e["id"]) for e in evidence} | {str(e["id"]) for e in evaluations})
    for s in submissions:
        s["original"] = originals.get(s["id"])
        s["decision_trail"] = privacy.redact_foreign_ids(s["decision_trail"], own)
    store = evidence_service.blob_store()
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
    from chalicelib.services.privacy_requests import export_key, export_store

    now = datetime.now(UTC)
    key = job.state.get("export_key")
    if key is None:
        # Chosen and saved before the upload: a resumed job overwrites the same object, never orphans one.
        key = export_key(job.id)
        job.state["export_key"] = key
        with transaction() as conn:
            privacy_repo.save_progress(conn, job.id, progress=10, step="collect", state=job.state, now=now)
    def progress(value: int, step: str) -> None:
        with transaction() as conn:
            privacy_repo.save_progress(conn, job.id, progress=value, step=step, state=job.state, now=datetime.now(UTC))

    data, counts = build_export(job.subject_id, now=now, on_progress=progress)
    export_store().put(key, data, "application/zip")
    _crash("collect", crash_after)
    with transaction() as conn:
        # Serialised with an erasure's first step (which deletes the subject under the same row): an export
        # never completes for a subject whose erasure began; its archive is removed instead.
        subject = privacy_repo.get_subject(conn, job.subject_id, share_lock=True)
        if subject is None or subject["status"] == "deleted":
            export_store().delete(key)
            raise Refused("the subject is being erased")
        ttl_hours = int(flags_repo.current(conn)["PRIVACY_EXPORT_TTL_HOURS"])
        expires = now + timedelta(hours=ttl_hours)
        privacy_repo.complete(conn, job.id, result={"counts": counts, "bytes": len(data)},
                              state={"done": EXPORT_STEPS}, now=datetime.now(UTC), export_key=key,
                              export_bytes=len(data), export_expires_at=expires)
        privacy_repo.audit(conn, action="export", actor=ACTOR, request_id=job.id, subject_id=job.subject_id,
                           details={"bytes": len(data), "counts": counts, "expires_at": expires})


# --- erasure --------------------------------------------------------------------------------------

ERASE_STEPS = ["close", "blobs", "ledger", "submissions", "validator", "hyperlocal", "originals", "identifiers",
               "finish"]


def _erase(job: Job, *, crash_after: str | None) -> None:
    steps: dict[str, Callable[[Job], dict[str, int]]] = {
        "close": _close, "blobs": _blobs, "ledger": _ledger, "submissions": _submissions, "validator": _validator,
        "hyperlocal": _hyperlocal, "originals": _originals, "identifiers": _identifiers,
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
    with transaction() as conn:
        subject = privacy_repo.get_subject(conn, job.subject_id)
        if subject is None:
            raise Refused("the subject no longer exists")
        job.state["tombstone_id"] = str(job.request["tombstone_id"] or uuid4())
        privacy_repo.insert_tombstone(conn, tombstone_id=_tombstone(job), kind=subject["kind"], owner_id=uuid4())
        tombstone = privacy_repo.get_subject(conn, _tombstone(job))
        assert tombstone is not None
        job.state["tombstone_owner"] = str(tombstone["owner_id"])
        conn.execute("UPDATE privacy_requests SET tombstone_id = %s WHERE id = %s", (_tombstone(job), job.id))
        revoked = privacy_repo.close_identity(conn, job.subject_id, datetime.now(UTC))
    return {"keys_revoked": revoked}


def _blobs(job: Job) -> dict[str, int]:
    """Processed photos, any quarantine leftovers, and earlier export archives."""
    from chalicelib.services import evidence as evidence_service
    from chalicelib.services.privacy_requests import export_store

    store = evidence_service.blob_store()
    with transaction() as conn:
        rows = privacy_repo.subject_blob_keys(conn, job.subject_id)
        exports = privacy_repo.subject_exports(conn, job.subject_id)
    deleted = 0
    for row in rows:
        for key in (row["processed_key"], evidence_service.quarantine_key(row["id"])):
            if key:
                store.delete(key)
                deleted += 1
    exports_store = export_store()
    for e in exports:
        exports_store.delete(e["export_key"])
    if exports:
        with transaction() as conn:
            privacy_repo.mark_export_deleted(conn, [e["id"] for e in exports], datetime.now(UTC))
    return {"blobs_deleted": deleted, "exports_deleted": len(exports)}


def _ledger(job: Job) -> dict[str, int]:
    """Movements stay (append-only, still balanced) on an account re-pointed to the tombstone; memos go."""
    tombstone = _tombstone(job)
    with transaction() as conn:
        account_id = privacy_repo.repoint_account(conn, job.subject_id, tombstone, agent_account(tombstone))
    scrubbed = 0
    while account_id is not None:
        with transaction() as conn:
            privacy_repo.enable_erasure(conn)
            n = privacy_repo.scrub_journal_batch(conn, account_id, str(job.subject_id), str(tombstone), BATCH)
        scrubbed += n
        if n < BATCH:
            break
    return {"journal_entries_scrubbed": scrubbed}


def _submissions(job: Job) -> dict[str, int]:
    from chalicelib.services.layer_b_service import cache_key

    scrubbed = 0
    while True:
        with transaction() as conn:
            rows = privacy_repo.submissions_to_scrub(conn, job.subject_id, BATCH)
            if not rows:
                break
            keys = [cache_key(ClassifierInput(kind=r["kind"], title=r["title"], body=r["body"], domain=r["domain"]))
                    for r in rows]
            privacy_repo.scrub_submissions(conn, [r["id"] for r in rows], _tombstone(job), keys)
        scrubbed += len(rows)
    return {"submissions_anonymised": scrubbed}


def _validator(job: Job) -> dict[str, int]:
    with transaction() as conn:
        return {"evaluations_anonymised": privacy_repo.repoint_validator(conn, job.subject_id, _tombstone(job))}


def _hyperlocal(job: Job) -> dict[str, int]:
    with transaction() as conn:
        counts = privacy_repo.erase_hyperlocal(conn, job.subject_id, _tombstone(job))
    return {f"{k}_erased": v for k, v in counts.items()}


def _originals(job: Job) -> dict[str, int]:
    from chalicelib.services import privacy_originals

    with transaction() as conn:
        return privacy_originals.erase_for(conn, job.subject_id, _tombstone(job))


def _identifiers(job: Job) -> dict[str, int]:
    """Every other mention of the subject's ids, key ids and key prefixes, in every table, becomes the
    tombstone's (tables added later are covered without a change here)."""
    with transaction() as conn:
        replacements = _replacements(conn, job)
        columns = privacy_repo.sweepable_columns(conn)
    changed = 0
    # One statement (one pass) and one transaction per table: short locks; a table already swept finds
    # nothing on a resumed run.
    for table, table_columns in columns.items():
        with transaction() as conn:
            privacy_repo.enable_erasure(conn)
            changed += privacy_repo.sweep_table(conn, table, table_columns, replacements)
    return {"rows_with_identifiers_rewritten": changed}


def _replacements(conn: Any, job: Job) -> dict[str, str]:
    subject = privacy_repo.get_subject(conn, job.subject_id)
    tombstone = str(_tombstone(job))
    out = {str(job.subject_id): tombstone}
    if subject is not None and privacy_repo.owner_is_exclusive(conn, job.subject_id, subject["owner_id"]):
        out[str(subject["owner_id"])] = job.state["tombstone_owner"]
    for key in privacy_repo.subject_keys(conn, job.subject_id):
        out[str(key["id"])] = str(uuid4())
        out[key["prefix"]] = "erased"
    return out


def _finish(job: Job) -> None:
    """Delete the identity itself, re-point the requests and audit rows, and announce the erasure."""
    tombstone = _tombstone(job)
    with transaction() as conn:
        privacy_repo.enable_erasure(conn)
        replacements = _replacements(conn, job)
        key_ids = [k["id"] for k in privacy_repo.subject_keys(conn, job.subject_id)]
        # The last mentions (the requests and audit rows written since the sweep).
        privacy_repo.sweep_table(conn, "privacy_requests", [("subject_id", "uuid"), ("requested_by", "text")],
                                 replacements)
        privacy_repo.sweep_table(conn, "privacy_audit_log", [("subject_id", "uuid"), ("actor", "text")],
                                 replacements)
        subject = privacy_repo.get_subject(conn, job.subject_id)
        if subject is not None:
            privacy_repo.scrub_name_in_requests(conn, tombstone, subject["name"])
        removed = privacy_repo.delete_identity(conn, job.subject_id, key_ids)
        counts = dict(job.state.get("counts", {}))
        counts.update({f"{k}_deleted": v for k, v in removed.items()})
        state = {"done": ERASE_STEPS, "tombstone_id": str(tombstone)}
        privacy_repo.complete(conn, job.id, result={"counts": counts, "tombstone_id": str(tombstone)}, state=state,
                              now=datetime.now(UTC))
        privacy_repo.audit(conn, action="erase", actor=ACTOR, request_id=job.id, subject_id=tombstone,
                           details={"counts": counts, "approved_by": job.request["approved_by"]})
        privacy_repo.audit(conn, action="anonymise", actor=ACTOR, request_id=job.id, subject_id=tombstone,
                           details={"kept_under_tombstone": ["ledger movements", "submission decisions",
                                                             "evaluations", "attestations"]})
        outbox.enqueue(conn, "privacy_request", {"event": "subject.erased", "request_id": str(job.id),
                                                 "tombstone_id": str(tombstone)})


def handle_event(payload: dict[str, Any]) -> str:
    """Events on the privacy-request queue (today `subject.erased`): recorded in logs and metrics."""
    if payload.get("event") == "subject.erased":
        logger.info("subject erased", extra={"request_id": payload.get("request_id"),
                                             "tombstone_id": payload.get("tombstone_id")})
        return "announced"
    return "ignored"
