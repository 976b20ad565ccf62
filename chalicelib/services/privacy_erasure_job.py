"""A data-subject erasure: the identity closed and deleted, what must stay re-pointed to a tombstone,
texts, places and blobs removed, every table swept for identifiers."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

from chalicelib.domain.layer_b import ClassifierInput, cache_key
from chalicelib.domain.ledger import agent_account
from chalicelib.services import evidence_upload as evidence_service
from chalicelib.services import privacy_originals
from chalicelib.services.privacy_job import ACTOR, BATCH, Job, Refused, simulate_crash

ERASE_STEPS = ["close", "blobs", "ledger", "submissions", "validator", "hyperlocal", "originals", "operator_actions",
               "identifiers", "finish"]


def run_erasure(job: Job, *, crash_after: str | None) -> None:
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
        simulate_crash(name, crash_after)
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
