"""Erasure: a subject with data in every table and in the blob store asks to be forgotten; after an
admin's approval the job runs from the queue, and nothing of them is left anywhere, while the ledger,
the decisions and other people's data stay whole."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.integration.privacy_support import (
    NO_SUBJECT_DATA,
    PrivacyWorld,
    all_tables,
    execute,
    populate,
    privacy_world,
    rows,
    run_request,
    scan_blobs,
    scan_tables,
)
from tests.support import drain_outbox

__all__ = ["privacy_world"]


def ledger_verifies(db: str) -> dict[str, Any]:
    from chalicelib.adapters import ledger_repo
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        return ledger_repo.verify(conn)


def test_an_erased_subject_leaves_nothing_in_any_table_or_blob_and_the_ledger_still_verifies(
    privacy_world: PrivacyWorld,
) -> None:
    w = privacy_world
    # Given a subject with personal data everywhere, and an export of it sitting in the store
    subject, bystander = populate(w)
    w.export(subject)
    needles = subject.needles()
    before = scan_tables(w.db, needles)
    tables = all_tables(w.db)
    # every table is either shown to hold the subject's data or declared to hold nobody's
    assert tables - set(before) - set(NO_SUBJECT_DATA) == set(), "classify new tables in privacy_support.py"
    assert set(before) & set(NO_SUBJECT_DATA) == set()
    assert scan_blobs(w.blobs, needles), "the export and the quarantine leftover hold the subject's data"
    balance_before = rows(w.db, "SELECT sum(balance) AS s FROM accounts")[0]["s"]
    bystander_submissions = rows(w.db, "SELECT id, title, body FROM submissions WHERE agent_id = %s", bystander.id)

    # When the subject asks for erasure and a second admin approves it
    done = w.erase(subject)

    # Then the job completed through the queue, and no table and no blob mentions the subject
    assert done["status"] == "completed" and done["progress"] == 100, done
    assert scan_tables(w.db, needles) == {}
    assert scan_blobs(w.blobs, needles) == []
    for key in subject.blob_keys:
        assert not (w.blobs / key).exists()
    # the ledger verifies, and no credit appeared or vanished
    verified = ledger_verifies(w.db)
    assert verified["mismatches"] == [] and verified["accounts_checked"] > 0
    assert rows(w.db, "SELECT sum(balance) AS s FROM accounts")[0]["s"] == balance_before
    # movements stay, on the tombstone's account, with their memos scrubbed
    tombstone = done["result"]["tombstone_id"]
    moved = rows(w.db, "SELECT e.memo FROM journal_entries e JOIN journal_legs l ON l.entry_id = e.id"
                       " JOIN accounts a ON a.id = l.account_id WHERE a.agent_id = %s", tombstone)
    assert moved and all(m["memo"] == {"erased": True} for m in moved)
    # decisions keep their counts without the identity
    kept = rows(w.db, "SELECT status, title FROM submissions WHERE agent_id = %s", tombstone)
    assert len(kept) == 3 and {k["title"] for k in kept} == {"[erased]"}
    assert rows(w.db, "SELECT count(*) AS n FROM evaluations WHERE validator_id = %s", tombstone)[0]["n"] == 1
    # what operators did stays under the tombstone without its reasons; the registration forgets its address
    assert {(r["action"], r["reason"]) for r in rows(
        w.db, "SELECT action, reason FROM admin_actions WHERE subject_id = %s OR details->>'agent_id' = %s",
        tombstone, tombstone)} == {("agent_suspended", "[erased]")}
    assert rows(w.db, "SELECT reason FROM validator_quota_resets WHERE agent_id = %s", tombstone) == [
        {"reason": "[erased]"}]
    assert rows(w.db, "SELECT address_fingerprint FROM registrations WHERE agent_id = %s", tombstone) == [
        {"address_fingerprint": "unknown"}]
    # the bystander's content, photo and key are untouched
    assert rows(w.db, "SELECT id, title, body FROM submissions WHERE agent_id = %s", bystander.id) == \
        bystander_submissions
    assert all((w.blobs / k).exists() for k in bystander.blob_keys)
    assert w.api.get("/v1/agents/me", key=bystander.key).status == 200
    # the subject's key no longer opens anything
    assert w.api.get("/v1/agents/me", key=subject.key).status == 401
    # the erasure was announced through the outbox, naming only the tombstone
    announced = rows(w.db, "SELECT payload FROM outbox WHERE topic = 'privacy_request'"
                           " AND payload->>'event' = 'subject.erased'")
    assert [a["payload"]["tombstone_id"] for a in announced] == [tombstone]
    # and the audit log tells the story, under the tombstone
    actions = [r["action"] for r in rows(w.db, "SELECT action FROM privacy_audit_log WHERE subject_id = %s"
                                               " ORDER BY id", tombstone)]
    for expected in ("request", "start", "export", "download", "approve", "erase", "anonymise"):
        assert expected in actions


def test_an_erasure_that_crashes_half_way_resumes_where_it_stopped(privacy_world: PrivacyWorld) -> None:
    w = privacy_world
    subject, _ = populate(w)
    filed = w.file(w.admin, "erase", subject_id=subject.id, reason="court order 17/2026")
    assert w.approve(filed["id"]).status == 200
    # When the job dies right after anonymising the submissions
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_request(UUID(filed["id"]), crash_after="submissions")
    halfway = w.request(filed["id"])
    assert halfway["status"] == "processing" and 0 < halfway["progress"] < 100
    assert halfway["step"] == "submissions"
    # Then the redelivered message finishes the job without redoing what was done
    drain_outbox()
    done = w.request(filed["id"])
    assert done["status"] == "completed", done
    assert done["result"]["counts"]["submissions_anonymised"] == 3
    assert scan_tables(w.db, subject.needles()) == {}
    assert ledger_verifies(w.db)["mismatches"] == []
    # and a further delivery changes nothing
    assert run_request(UUID(filed["id"])) == "skipped"


def test_an_erasure_waits_for_another_admins_approval(privacy_world: PrivacyWorld) -> None:
    w = privacy_world
    subject, _ = populate(w)
    filed = w.file(w.admin, "erase", subject_id=subject.id, reason="asked by e-mail")
    assert filed["on_behalf"] is True and filed["awaiting_approval"] is True
    # Nothing runs before the approval, whatever is delivered
    drain_outbox()
    assert w.request(filed["id"])["status"] == "pending"
    assert w.api.get("/v1/agents/me", key=subject.key).status == 200
    # The admin who filed it cannot approve it; approving needs a reason
    same = w.api.post(f"/v1/admin/privacy/requests/{filed['id']}/approve", key=w.admin, body={"reason": "ok"})
    assert same.status == 403
    assert w.api.post(f"/v1/admin/privacy/requests/{filed['id']}/approve", key=w.second_admin,
                      body={}).status == 400
    # A subject cannot approve anything
    assert w.api.post(f"/v1/admin/privacy/requests/{filed['id']}/approve", key=subject.key,
                      body={"reason": "me"}).status == 403
    approved = w.approve(filed["id"])
    assert approved.status == 200 and approved.data["approved_by"].startswith("admin:")
    assert w.approve(filed["id"]).status == 409
    listed = w.api.get("/v1/admin/privacy/requests?type=erase&awaiting_approval=false", key=w.admin)
    assert [r["id"] for r in listed.data] == [filed["id"]]
    drain_outbox()
    assert w.request(filed["id"])["status"] == "completed"


def test_the_worker_reports_partial_batch_failures(privacy_world: PrivacyWorld) -> None:
    from chalicelib.entrypoints.workers import privacy_request_worker
    from local.dispatcher import FakeLambdaContext

    w = privacy_world
    subject, _ = populate(w)
    filed = w.file(subject.key, "export")
    execute(w.db, "UPDATE outbox SET sent_at = now() WHERE topic = 'privacy_request'")  # delivered by hand below
    good = {"messageId": "m-good", "receiptHandle": "r1", "body": f'{{"request_id": "{filed["id"]}"}}',
            "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:local:0:peerguard-privacy-request", "awsRegion": "local"}
    bad = {**good, "messageId": "m-bad", "body": '{"request_id": "not-a-uuid"}'}
    result = privacy_request_worker({"Records": [bad, good]}, FakeLambdaContext())
    assert result["batchItemFailures"] == [{"itemIdentifier": "m-bad"}]
    assert w.request(filed["id"])["status"] == "completed"
    # a duplicate delivery of a finished request is acknowledged and changes nothing
    again = privacy_request_worker({"Records": [good]}, FakeLambdaContext())
    assert again["batchItemFailures"] == []


def test_the_audit_log_and_the_journal_refuse_changes_outside_an_erasure(privacy_world: PrivacyWorld) -> None:
    import psycopg

    w = privacy_world
    subject, _ = populate(w)
    w.file(subject.key, "export")
    for statement in ("DELETE FROM privacy_audit_log", "UPDATE privacy_audit_log SET actor = 'someone else'",
                      "UPDATE journal_entries SET memo = '{}'::jsonb", "DELETE FROM journal_entries",
                      "UPDATE journal_legs SET amount = amount + 1"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), psycopg.connect(w.db) as conn:
            conn.execute(statement)
    # even inside an erasure's transaction, legs and amounts never change, nor an audit row's action
    for statement in ("UPDATE journal_legs SET amount = amount + 1", "UPDATE privacy_audit_log SET action = 'fail'",
                      "UPDATE journal_entries SET kind = 'other'"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), psycopg.connect(w.db) as conn:
            conn.execute("SELECT set_config('peerguard.erasure', 'on', true)")
            conn.execute(statement)
