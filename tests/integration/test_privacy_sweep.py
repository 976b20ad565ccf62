"""Nothing stays in the privacy stage: whatever happens to a photo's message or to the worker that
claimed it, the photo is `ready` or `rejected` after its lease and one sweep.

The failure that was seen: a worker claimed a photo and never finished it (killed, timed out, or its
final write failed), the message came again inside the lease, was acknowledged as "in progress", and
then no message was left to finish the photo. Every way a delivery can end early is played here:
the message lost before any worker saw it, the worker killed at each step after its claim, the
notification of a direct upload that never came."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from chalicelib import bootstrap
from chalicelib.services import privacy_sweep
from tests.integration.evidence_support import World, leaky_jpeg, world
from tests.support import drain_outbox

__all__ = ["world"]

LEASE = timedelta(seconds=300)


class Killed(BaseException):
    """The worker's process ends here: no except clause of ours runs (as with a timeout or OOM kill)."""


def status(db: str, evidence_id: str) -> dict[str, Any]:
    with psycopg.connect(db) as conn:
        cur = conn.execute("SELECT status, rejection_code, stage_requeues, attempts, original_deleted_at"
                           " FROM evidence WHERE id = %s", (UUID(evidence_id),))
        found = cur.fetchone()
        assert found is not None and cur.description is not None
        return dict(zip([c.name for c in cur.description], found, strict=True))


def pending_messages(db: str) -> int:
    with psycopg.connect(db) as conn:
        found = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL").fetchone()
        assert found is not None
        return int(found[0])


def sweep(at: datetime) -> dict[str, int]:
    return privacy_sweep.sweep_late_photos(bootstrap.unit_of_work(), bootstrap.blob_store(), now=at)


def after_lease_and_sweep() -> datetime:
    return datetime.now(UTC) + LEASE + privacy_sweep.SWEEP_EVERY


def deliver_and_kill(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Deliver the due messages with the worker killed at `where`, as a real crash would leave it:
    the claim committed, nothing after it, the message neither acknowledged nor failed."""
    from functions.privacy import handler as privacy_handler

    with monkeypatch.context() as patch:
        if where == "processing":
            def killed_processing(data: bytes, *, blur: bool) -> Any:
                raise Killed()

            patch.setattr(privacy_handler, "clean_photo", killed_processing)
        elif where == "storing":
            store = bootstrap.blob_store()

            def killed_put(key: str, data: bytes, content_type: str) -> None:
                raise Killed()

            patch.setattr(store, "put", killed_put)
        elif where == "final_write":
            from chalicelib.adapters import evidence_repo

            def killed_write(*args: Any, **kwargs: Any) -> bool:
                raise Killed()

            patch.setattr(evidence_repo, "mark_ready", killed_write)
        with pytest.raises(Killed):
            drain_outbox()


def redeliver_inside_the_lease(db: str) -> None:
    """SQS (or the local relay) delivers the message again while the dead worker's lease holds."""
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE outbox SET available_at = now() WHERE sent_at IS NULL")
    drain_outbox()


@pytest.mark.parametrize("where", ["processing", "storing", "final_write"])
def test_a_worker_killed_after_its_claim_leaves_a_photo_the_sweep_finishes(
    world: World, db: str, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    deliver_and_kill(monkeypatch, where)
    redeliver_inside_the_lease(db)
    # What was seen: the redelivery was acknowledged as in progress and no message is left.
    assert status(db, evidence_id)["status"] == "processing" and pending_messages(db) == 0

    assert sweep(datetime.now(UTC)) == {"requeued": 0, "rejected": 0, "unannounced_found": 0}  # the lease holds
    assert sweep(after_lease_and_sweep())["requeued"] == 1
    assert drain_outbox() == 1
    finished = status(db, evidence_id)
    assert finished["status"] == "ready" and finished["stage_requeues"] == 1 and finished["attempts"] == 2
    assert world.evidence(evidence_id)["download"] is not None


def test_a_lost_message_leaves_a_waiting_photo_the_sweep_sends_again(world: World, db: str) -> None:
    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    with psycopg.connect(db) as conn:  # the queue lost it: marked sent, never delivered
        conn.execute("UPDATE outbox SET sent_at = now()")
    assert status(db, evidence_id)["status"] == "quarantined"
    assert sweep(datetime.now(UTC))["requeued"] == 0
    assert sweep(after_lease_and_sweep())["requeued"] == 1
    assert drain_outbox() == 1
    assert status(db, evidence_id)["status"] == "ready"


def test_a_photo_whose_message_still_waits_is_not_sent_twice(world: World, db: str) -> None:
    """A backed-up queue is not a lost message: the sweep leaves it (the late-photo alert shows it)."""
    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    assert sweep(after_lease_and_sweep())["requeued"] == 0
    assert pending_messages(db) == 1
    assert drain_outbox() == 1 and status(db, evidence_id)["status"] == "ready"


def test_a_direct_upload_whose_notification_never_came_is_found_and_processed(world: World, db: str) -> None:
    """In AWS the photo goes straight to S3 and S3 notifies the stage; a lost notification left the
    photo registered, uploaded, and never processed."""
    data = leaky_jpeg()
    registered = world.register(data=data)
    assert registered.status == 201
    evidence_id = registered.data["evidence"]["id"]
    bootstrap.blob_store().put(f"quarantine/{evidence_id}", data, "image/jpeg")  # the PUT to S3; no notification
    never_uploaded = world.register(data=data).data["evidence"]["id"]

    assert sweep(datetime.now(UTC))["unannounced_found"] == 0
    assert sweep(after_lease_and_sweep()) == {"requeued": 1, "rejected": 0, "unannounced_found": 1}
    drain_outbox()
    assert status(db, evidence_id)["status"] == "ready"
    assert status(db, never_uploaded)["status"] == "quarantined"


def test_a_photo_that_kills_every_worker_is_rejected_after_bounded_attempts_and_can_be_retried(
    world: World, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    at = datetime.now(UTC)
    for attempt in range(privacy_sweep.MAX_STAGE_REQUEUES + 1):
        deliver_and_kill(monkeypatch, "processing")
        at = max(at, datetime.now(UTC)) + LEASE + privacy_sweep.SWEEP_EVERY
        outcome = sweep(at)
        expected = "rejected" if attempt == privacy_sweep.MAX_STAGE_REQUEUES else "requeued"
        assert outcome[expected] == 1, (attempt, outcome)
    rejected = status(db, evidence_id)
    assert rejected["status"] == "rejected" and rejected["rejection_code"] == privacy_sweep.TIMEOUT_CODE
    assert rejected["attempts"] == privacy_sweep.MAX_STAGE_REQUEUES + 1
    assert rejected["original_deleted_at"] is None  # retries are left: the original stays for an operator
    redeliver_inside_the_lease(db)  # the dead workers' messages come back: they change nothing
    assert status(db, evidence_id) == rejected

    assert world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.admin).status == 200
    drain_outbox()
    assert status(db, evidence_id)["status"] == "ready"


def test_worker_health_and_the_alert_show_a_late_photo(world: World, db: str) -> None:
    from chalicelib.services import operations

    late_id = world.submit(leaky_jpeg())["evidence"]["id"]
    waiting_id = world.submit(leaky_jpeg())["evidence"]["id"]
    with psycopg.connect(db) as conn:  # a worker claimed one 10 minutes ago and died; the other just came
        conn.execute("UPDATE evidence SET status = 'processing', processing_token = gen_random_uuid(),"
                     " processing_started_at = now() - interval '10 minutes' WHERE id = %s", (UUID(late_id),))
        conn.execute("UPDATE outbox SET sent_at = now()")

    health = world.api.get("/v1/admin/workers", key=world.admin)
    assert health.status == 200, health.body
    late = health.data["late_photos"]
    assert late["late"] == 1 and late["evidence_ids"] == [late_id] and late["oldest_waiting_s"] >= 590
    assert waiting_id not in late["evidence_ids"]

    checks = {c.rule: c for c in operations.evaluate_rules(
        operations.read_figures(bootstrap.unit_of_work(), bootstrap.probes()), [])}
    assert checks["late_photos"].firing
    assert checks["late_photos"].finding is not None
    assert checks["late_photos"].finding.details["evidence_ids"] == [late_id]

    assert sweep(datetime.now(UTC))["requeued"] == 1  # its lease is over: sent again, the alert clears
    drain_outbox()
    assert world.api.get("/v1/admin/workers", key=world.admin).data["late_photos"]["late"] == 0
    checks = {c.rule: c for c in operations.evaluate_rules(
        operations.read_figures(bootstrap.unit_of_work(), bootstrap.probes()), [])}
    assert checks["late_photos"].state == "ok"


def test_the_sweep_runs_every_minute_with_the_other_jobs() -> None:
    from chalicelib.entrypoints.schedules import JOBS

    job = next(j for j in JOBS if j.name == "privacy_sweep")
    assert job.every_seconds == privacy_sweep.SWEEP_EVERY.total_seconds() and job.expression == "rate(1 minute)"
