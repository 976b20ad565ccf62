"""Exports: the subject asks, the worker builds one ZIP, and only the subject downloads it, for a while."""

from __future__ import annotations

import json

from tests.integration.privacy_support import (
    BODY,
    EMAIL,
    EVIDENCE_AT,
    NAME,
    REGION,
    TITLE,
    PrivacyWorld,
    execute,
    populate,
    privacy_world,
    raw_get,
    register,
    rows,
)
from tests.support import drain_outbox

__all__ = ["privacy_world"]


def everything_text(files: dict[str, bytes]) -> str:
    return b"".join(v for k, v in files.items() if k.endswith((".json", ".txt"))).decode()


def test_an_export_holds_every_kind_of_record_and_names_nobody_else(privacy_world: PrivacyWorld) -> None:
    w = privacy_world
    subject, bystander = populate(w)
    # When the subject asks for an export
    done, files = w.export(subject)
    # Then one archive holds a README and a JSON file per kind of record, and the processed photo
    assert {"README.txt", "account.json", "submissions.json", "evaluations.json", "ledger.json", "evidence.json",
            "attestations.json", "consents.json", "privacy_requests.json"} <= set(files)
    photos = [n for n in files if n.startswith("photos/")]
    assert len(photos) == 1 and files[photos[0]] == b"\xff\xd8processed pixels\xff\xd9"
    readme = files["README.txt"].decode()
    for name in ("account.json", "submissions.json", "evaluations.json", "ledger.json", "evidence.json", "photos/",
                 "attestations.json", "consents.json", "privacy_requests.json"):
        assert f"- {name}" in readme
    account = json.loads(files["account.json"])[0]
    assert account["name"] == NAME and account["id"] == subject.id
    assert account["validator"]["home_regions"][0]["latitude"] == REGION[0]
    assert [k["prefix"] for k in account["api_keys"]] == subject.key_prefixes
    assert "key_hash" not in json.dumps(account)
    submissions = json.loads(files["submissions.json"])
    assert len(submissions) == 3 and TITLE in {s["title"] for s in submissions}
    # the stored text is masked; the original, kept encrypted, comes back to its author in clear
    with_email = next(s for s in submissions if s["title"] == TITLE)
    assert EMAIL not in with_email["body"] and with_email["body"].startswith(BODY)
    assert with_email["original"]["body"] == f"{BODY} Write to {EMAIL}."
    assert with_email["original"]["masked"] and with_email["original"]["masked"][0]["field"] == "body"
    assert all(s["original"] is None for s in submissions if s is not with_email)
    consents = json.loads(files["consents.json"])
    assert consents[0]["purpose"] == "location_on_evidence" and consents[0]["history"][0]["action"] == "granted"
    assert all(s["decision_trail"] for s in submissions)
    evaluations = json.loads(files["evaluations.json"])
    assert len(evaluations) == 1 and evaluations[0]["decision"] == "approve"
    ledger = json.loads(files["ledger.json"])
    balance = rows(w.db, "SELECT balance FROM accounts WHERE agent_id = %s", subject.id)[0]["balance"]
    assert sum(m["amount_millicredits"] for m in ledger) == balance
    evidence = json.loads(files["evidence.json"])
    assert len(evidence) == 2 and sorted(e["status"] for e in evidence) == ["ready", "rejected"]
    # precise coordinates, stored encrypted, are the subject's to see
    assert {e["latitude"] for e in evidence} == {EVIDENCE_AT[0]}
    assert all("location_enc" not in e for e in evidence) and "enc1:" not in everything_text(files)
    assert json.loads(files["attestations.json"])[0]["status"] == "confirmed"
    requests = json.loads(files["privacy_requests.json"])
    assert [r["id"] for r in requests] == [done["id"]]
    # Nobody else is named: not the bystander, not the validators who judged the subject's content
    everything = b"".join(files.values()).decode("utf-8", "replace")
    assert bystander.id not in everything and "Bystander Agent" not in everything
    assert done["export"]["bytes"] == rows(w.db, "SELECT export_bytes FROM privacy_requests WHERE id = %s",
                                           done["id"])[0]["export_bytes"]
    # The export, its download and its start are audited
    actions = {r["action"] for r in rows(w.db, "SELECT action FROM privacy_audit_log WHERE request_id = %s",
                                         done["id"])}
    assert {"request", "start", "export", "download"} <= actions


def test_only_the_subject_downloads_an_export_and_only_until_it_expires(privacy_world: PrivacyWorld) -> None:
    w = privacy_world
    subject = register(w, "Exporting Agent")
    sibling = register(w, "Sibling Agent", key=subject.key)  # same owner
    stranger = register(w, "Stranger Agent")
    # a human an admin registered under the agent's owner: same owner id, yet not the agent
    human = register(w, "Walker", kind="human", key=w.admin, owner_id=subject.owner_id)
    filed = w.file(subject.key, "export")
    # Before the job ran there is nothing to download
    assert w.api.get(f"/v1/privacy/requests/{filed['id']}/download", key=subject.key).status == 409
    drain_outbox()
    link_path = f"/v1/privacy/requests/{filed['id']}/download"
    # A stranger does not even learn that the request exists; an admin reads it but cannot download
    assert w.api.get(f"/v1/privacy/requests/{filed['id']}", key=stranger.key).status == 404
    assert w.api.get(link_path, key=stranger.key).status == 404
    assert w.api.get(f"/v1/privacy/requests/{filed['id']}", key=w.admin).status == 200
    assert w.api.get(link_path, key=w.admin).status == 403
    # A human under the same owner does not speak for the agent
    assert w.api.get(link_path, key=human.key).status == 404
    # The owner, through any of their agents, does
    link = w.api.get(link_path, key=sibling.key)
    assert link.status == 200 and link.data["content_type"] == "application/zip"
    # the link names no key, subject or personal data, and no cache keeps it
    assert link.headers["cache-control"] == "private, no-store"
    assert sibling.key not in link.data["url"] and subject.id not in link.data["url"]
    assert "/v1/privacy/exports/" + filed["id"] + "?token=" in link.data["url"]
    status, body = raw_get(link.data["url"])
    assert status == 200 and body[:2] == b"PK"
    # A forged or altered token opens nothing
    forged = link.data["url"].rsplit("=", 1)[0] + "=1999999999." + "0" * 64
    assert raw_get(forged)[0] == 403
    # When the export expires, the link route and the file route answer 410
    execute(w.db, "UPDATE privacy_requests SET export_expires_at = now() - interval '1 second' WHERE id = %s",
            filed["id"])
    assert w.api.get(link_path, key=subject.key).status == 410
    assert raw_get(link.data["url"])[0] == 410


def test_bad_requests_are_clear_4xx(privacy_world: PrivacyWorld) -> None:
    w = privacy_world
    subject = register(w, "Asking Agent")
    stranger = register(w, "Other Agent")
    human = register(w, "Someone", kind="human")
    post = w.api.post
    assert post("/v1/privacy/requests", key=subject.key, body={"type": "delete"}).status == 400
    assert post("/v1/privacy/requests", key=subject.key, body={"type": "export", "extra": 1}).status == 400
    assert post("/v1/privacy/requests", key=subject.key, body={"type": "export", "subject_id": "x"}).status == 400
    assert post("/v1/privacy/requests", key=subject.key, raw="{").status == 400
    assert post("/v1/privacy/requests", body={"type": "export"}).status == 401
    # an admin names the subject and gives a reason
    missing = post("/v1/privacy/requests", key=w.admin, body={"type": "export"})
    assert missing.status == 400 and missing.error["details"][0]["field"] == "subject_id"
    assert post("/v1/privacy/requests", key=w.admin, body={"type": "export", "subject_id": subject.id}).status == 400
    assert post("/v1/privacy/requests", key=w.admin, body={
        "type": "export", "subject_id": "00000000-0000-4000-8000-000000000000", "reason": "x"}).status == 404
    # nobody asks for someone else's data
    assert post("/v1/privacy/requests", key=subject.key, body={"type": "erase", "subject_id": stranger.id}).status \
        == 404
    assert post("/v1/privacy/requests", key=subject.key, body={"type": "export", "subject_id": human.id}).status \
        == 404
    # one open request per subject and type
    first = w.file(subject.key, "erase")
    again = post("/v1/privacy/requests", key=subject.key, body={"type": "erase"})
    assert again.status == 409
    assert w.file(human.key, "erase")["subject_kind"] == "human"
    # approving an export, an unknown request, or with a bad body
    export = w.file(subject.key, "export")
    assert w.approve(export["id"]).status == 409
    assert w.approve("00000000-0000-4000-8000-000000000000").status == 404
    assert post(f"/v1/admin/privacy/requests/{first['id']}/approve", key=w.second_admin,
                body={"reason": ""}).status == 400
    # admin lists: filters, pagination, bad cursors; the audit log is for admins only
    page = w.api.get("/v1/admin/privacy/requests?limit=1&awaiting_approval=true", key=w.admin)
    assert page.status == 200 and len(page.data) == 1 and page.body["meta"]["next_cursor"]
    cursor = page.body["meta"]["next_cursor"]
    rest = w.api.get(f"/v1/admin/privacy/requests?limit=1&awaiting_approval=true&cursor={cursor}", key=w.admin)
    assert {r["id"] for r in page.data + rest.data} == {first["id"], rows(
        w.db, "SELECT id::text FROM privacy_requests WHERE subject_id = %s", human.id)[0]["id"]}
    assert w.api.get("/v1/admin/privacy/requests?cursor=!!", key=w.admin).status == 400
    assert w.api.get("/v1/admin/privacy/requests?status=done", key=w.admin).status == 400
    assert w.api.get(f"/v1/admin/privacy/requests?subject_id={subject.id}&type=export", key=w.admin).data[0]["id"] \
        == export["id"]
    audit = w.api.get(f"/v1/admin/privacy/audit?subject_id={subject.id}&action=request", key=w.admin)
    assert audit.status == 200 and len(audit.data) == 2
    assert all(a["actor"] == f"agent:{subject.id}" for a in audit.data)
    assert w.api.get("/v1/admin/privacy/audit", key=subject.key).status == 403
    assert w.api.get("/v1/admin/privacy/audit?action=shred", key=w.admin).status == 400


def test_a_subject_asks_for_a_few_exports_a_day_and_an_admin_is_not_held_back(privacy_world: PrivacyWorld) -> None:
    from chalicelib.domain.privacy import EXPORTS_PER_DAY

    w = privacy_world
    subject = register(w, "Eager Agent")
    for _ in range(EXPORTS_PER_DAY):
        w.file(subject.key, "export")
        drain_outbox()
    # one more within the day is refused with a clear 429 and when to come back
    refused = w.api.post("/v1/privacy/requests", key=subject.key, body={"type": "export"})
    assert refused.status == 429, refused.body
    assert refused.error["details"]["limit"] == "exports_per_subject_per_day"
    assert 0 < int(refused.headers["retry-after"]) <= 86_400
    # an admin acting on the subject's behalf (with a reason) still can
    w.file(w.admin, "export", subject_id=subject.id, reason="regulator asked for a copy")
