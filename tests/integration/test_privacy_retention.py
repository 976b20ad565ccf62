"""Retention: periods as audited flags, a dry-run view, a daily run in bounded idempotent batches, and an
alert when the run fails on two days running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from psycopg.types.json import Jsonb

from tests.integration.privacy_support import (
    PrivacyWorld,
    execute,
    privacy_world,
    register,
    rows,
)

__all__ = ["privacy_world"]

OLD = datetime.now(UTC) - timedelta(days=400)


def old_data(w: PrivacyWorld) -> dict[str, Any]:
    """Rows of every kind, all past their default periods, plus fresh ones that must stay."""
    from chalicelib.bootstrap import blob_store
    from chalicelib.services.evidence_upload import processed_key, quarantine_key

    author = register(w, "Old Author")
    human = register(w, "Old Walker", kind="human")
    db = w.db
    rejected, fresh = uuid4(), uuid4()
    for sub_id, at in ((rejected, OLD), (fresh, datetime.now(UTC))):
        execute(db, "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by,"
                " created_at, decided_at, idempotency_key, request_hash, latitude, longitude) VALUES"
                " (%s, %s, 'problem', 'old secret title', 'old secret body', 'h', 'rejected', 'layer_b', %s, %s,"
                " %s, 'rh', 10.5, 20.5)", sub_id, author.id, at, at, f"idem-{sub_id}")
        execute(db, "INSERT INTO decision_trail (submission_id, stage, verdict) VALUES (%s, 'layer_b', %s)", sub_id,
                Jsonb({"decision": "rejected", "reasoning": "quotes the old secret title"}))
    execute(db, "INSERT INTO rate_limit_windows (bucket, window_start, hits) VALUES ('ip:1.2.3.4', %s, 3)", OLD)
    execute(db, "UPDATE registrations SET created_at = %s WHERE agent_id = %s", OLD, author.id)
    execute(db, "INSERT INTO processed_messages (consumer, message_key, processed_at) VALUES ('c', 'k', %s)", OLD)
    execute(db, "INSERT INTO outbox (topic, payload, created_at, sent_at) VALUES ('guardrail', '{}', %s, %s)", OLD,
            OLD)
    template = w.api.post("/v1/admin/mission-templates", key=w.admin, body={
        "name": "Old template", "domain": "disaster_response", "difficulty": "easy", "required_photos": 1,
        "completion_criteria": {"photo_pairs": 0, "gps_check": False, "min_minutes_between": 0},
        "steps": ["Photograph"], "gps_radius_m": 100, "duration_minutes": 60})
    mission = w.api.post("/v1/missions", key=author.key, body={
        "template_id": template.data["id"], "location": {"latitude": 1.0, "longitude": 2.0},
        "reward_millicredits": 0})
    assert mission.status == 201, mission.body
    store = blob_store()
    ready, leftover = uuid4(), uuid4()
    execute(db, "INSERT INTO evidence (id, mission_id, human_id, sequence, content_type, size_bytes, captured_at,"
            " status, processed_key, processed_content_type, processed_bytes, width, height, sha256, created_at,"
            " latitude, longitude) VALUES (%s, %s, %s, 'standalone', 'image/jpeg', 1, %s, 'ready', %s, 'image/jpeg',"
            " 1, 1, 1, 'x', %s, 3.5, 4.5)", ready, mission.data["id"], human.id, OLD,
            processed_key(ready, "image/jpeg"), OLD)
    execute(db, "INSERT INTO evidence (id, mission_id, human_id, sequence, content_type, size_bytes, captured_at,"
            " status, rejection_code, created_at) VALUES (%s, %s, %s, 'standalone', 'image/jpeg', 1, now(),"
            " 'rejected', 'decode_failed', now() - interval '3 days')", leftover, mission.data["id"], human.id)
    store.put(processed_key(ready, "image/jpeg"), b"processed", "image/jpeg")
    store.put(quarantine_key(leftover), b"original with exif", "image/jpeg")
    execute(db, "INSERT INTO attestations (problem_id, human_id, status, created_at) VALUES (%s, %s, 'confirmed', %s)",
            fresh, human.id, OLD)
    alert = uuid4()
    execute(db, "INSERT INTO alerts (id, rule, severity, title, status, resolved_at, created_at) VALUES"
            " (%s, 'x', 'warning', 't', 'resolved', %s, %s)", alert, OLD, OLD)
    execute(db, "INSERT INTO alert_notifications (alert_id, event, channel) VALUES (%s, 'raised', 'log')", alert)
    return {"rejected": rejected, "fresh": fresh, "old_author": author.id, "new_human": human.id,
            "blobs": [processed_key(ready, "image/jpeg"), quarantine_key(leftover)], "leftover": leftover}


def retention_view(w: PrivacyWorld) -> dict[str, Any]:
    answer = w.api.get("/v1/admin/privacy/retention", key=w.admin)
    assert answer.status == 200, answer.body
    return dict(answer.data)


def due(view: dict[str, Any]) -> dict[str, int]:
    return {k["kind"]: k["due"] for k in view["kinds"]}


def run_retention() -> Any:
    from chalicelib.entrypoints.schedules import JOBS, run_job

    return run_job(next(j for j in JOBS if j.name == "privacy_retention"))


def test_the_dry_run_shows_what_the_run_then_does_and_a_second_run_changes_nothing(
    privacy_world: PrivacyWorld,
) -> None:
    w = privacy_world
    data = old_data(w)
    # Given data past its periods, the dry run counts it and changes nothing
    before = retention_view(w)
    assert before["last_run"] is None
    expected = {"rejected_submissions": 1, "rate_limit_windows": 1, "registration_addresses": 1,
                "idempotency_records": 3, "processed_evidence": 1, "quarantine_leftovers": 1, "attestations": 1,
                "alert_history": 1, "privacy_exports": 0}
    counts = due(before)
    for kind, n in expected.items():
        assert counts[kind] >= n, (kind, counts)
    assert due(retention_view(w)) == counts
    # When the daily run runs
    result = run_retention()
    assert result["handled"] == counts
    # Then the rejected submission is anonymised (the fresh one untouched) and the rest is gone
    old = rows(w.db, "SELECT title, body, latitude, idempotency_key, status FROM submissions WHERE id = %s",
               data["rejected"])[0]
    assert old == {"title": "[erased]", "body": "[erased]", "latitude": None, "idempotency_key": None,
                   "status": "rejected"}
    assert rows(w.db, "SELECT verdict FROM decision_trail WHERE submission_id = %s", data["rejected"])[0][
        "verdict"] == {"erased": True, "decision": "rejected"}
    assert rows(w.db, "SELECT title FROM submissions WHERE id = %s", data["fresh"])[0]["title"] == "old secret title"
    assert rows(w.db, "SELECT count(*) AS n FROM alerts")[0]["n"] == 0
    # an old registration forgets the (hashed) address it came from; a recent one keeps it
    fingerprints = {r["agent_id"]: r["address_fingerprint"] for r in rows(
        w.db, "SELECT agent_id::text, address_fingerprint FROM registrations WHERE agent_id IN (%s, %s)",
        data["old_author"], data["new_human"])}
    assert fingerprints[data["old_author"]] == "unknown" and fingerprints[data["new_human"]] != "unknown"
    assert rows(w.db, "SELECT count(*) AS n FROM attestations")[0]["n"] == 0
    assert rows(w.db, "SELECT original_deleted_at FROM evidence WHERE id = %s", data["leftover"])[0][
        "original_deleted_at"] is not None
    for key in data["blobs"]:
        assert not (w.blobs / key).exists()
    # the view shows the last run and nothing left to do; a second run touches nothing
    after = retention_view(w)
    assert after["last_run"]["ok"] is True and after["last_run"]["result"]["handled"] == counts
    assert set(due(after).values()) == {0}
    assert set(run_retention()["handled"].values()) == {0}
    # every run is in the privacy audit log, which retention never deletes
    audited = rows(w.db, "SELECT details FROM privacy_audit_log WHERE action = 'retention' ORDER BY id")
    assert len(audited) == 2 and audited[0]["details"]["handled"] == counts


def test_runs_are_bounded_and_the_next_run_takes_the_rest(privacy_world: PrivacyWorld,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.services import retention

    w = privacy_world
    for i in range(7):
        execute(w.db, "INSERT INTO rate_limit_windows (bucket, window_start, hits) VALUES (%s, %s, 1)", f"ip:{i}",
                OLD)
    monkeypatch.setattr(retention, "BATCH_SIZE", 2)
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)
    assert run_retention()["handled"]["rate_limit_windows"] == 4
    assert run_retention()["handled"]["rate_limit_windows"] == 3
    assert run_retention()["handled"]["rate_limit_windows"] == 0


def test_retention_periods_are_validated_and_audited_flags(privacy_world: PrivacyWorld) -> None:
    w = privacy_world
    put = w.api.put
    for value in (0, 31, 1.5, "7", None, True):
        answer = put("/v1/admin/flags/RETENTION_RATE_LIMIT_DAYS", key=w.admin, body={"value": value, "reason": "x"})
        assert answer.status == 400, (value, answer.body)
    assert put("/v1/admin/flags/RETENTION_EVIDENCE_DAYS", key=w.admin, body={"value": 29, "reason": "x"}).status \
        == 400
    ok = put("/v1/admin/flags/RETENTION_RATE_LIMIT_DAYS", key=w.admin,
             body={"value": 3, "reason": "keep three days for abuse investigations"})
    assert ok.status == 200, ok.body
    changes = rows(w.db, "SELECT old_value, new_value, reason, actor FROM feature_flag_changes WHERE name = %s",
                   "RETENTION_RATE_LIMIT_DAYS")
    assert changes[0]["new_value"] == 3 and changes[0]["actor"].startswith("admin:")
    period = next(k for k in retention_view(w)["kinds"] if k["kind"] == "rate_limit_windows")
    assert period["period"] == 3 and period["unit"] == "days"
    # a subject cannot see or change retention
    subject = register(w, "Curious Agent")
    assert w.api.get("/v1/admin/privacy/retention", key=subject.key).status == 403


def test_an_alert_fires_when_retention_fails_two_days_running(privacy_world: PrivacyWorld,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.services import retention

    w = privacy_world

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("blob store unreachable")

    monkeypatch.setattr(retention, "run", broken)
    # One failed night is not an alert
    with pytest.raises(RuntimeError):
        run_retention()
    assert rows(w.db, "SELECT count(*) AS n FROM alerts WHERE rule = 'privacy_retention_failing'")[0]["n"] == 0
    # A failure yesterday and one today are
    execute(w.db, "UPDATE job_runs SET started_at = started_at - interval '1 day',"
            " finished_at = finished_at - interval '1 day' WHERE job = 'privacy_retention'")
    with pytest.raises(RuntimeError):
        run_retention()
    alerts = rows(w.db, "SELECT severity, details FROM alerts WHERE rule = 'privacy_retention_failing'")
    assert len(alerts) == 1 and alerts[0]["severity"] == "critical"
    assert "blob store unreachable" in alerts[0]["details"]["last_error"]
    view = retention_view(w)
    assert view["last_run"]["ok"] is False and "blob store unreachable" in view["last_run"]["error"]
