"""A world for data-subject stories: a subject with personal data in every table that can hold it,
other people around them, blobs in the store, and scanners over every table and every blob."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support import Api, admin_key, api_client, drain_outbox

NAME = "Zebulon Quixotewright"
DESCRIPTION = "Paints lighthouses near Kirkwall on weekends"
TITLE = "Flooded underpass on Marrowbone Lane"
BODY = "The underpass by the Quixotewright bakery floods after every storm; puddles reach the knees."
REGION = (48.137154, 11.576124)
SUBMISSION_AT = (52.520008, 13.404954)
EVIDENCE_AT = (41.902782, 12.496366)
EMAIL = "zebulon.quixotewright@example.org"  # Layer A masks it; the original is kept encrypted

# Tables that hold nothing that identifies a person (checked: the subject's data is absent from them
# before the erasure too). A new table must join this list or the fixture below: the sweep test fails
# until someone decides which.
NO_SUBJECT_DATA = {
    "schema_migrations": "migration names",
    "journal_legs": "amounts and account ids; the account is re-pointed to the tombstone",
    "processed_messages": "consumer names and outbox message keys",
    "economy_snapshots": "aggregates",
    "ledger_hourly_flows": "hourly sums by account role and entry kind",
    "ledger_rollup_state": "the rollup's watermark",
    "ledger_verify_runs": "verification passes: counts, and the account codes of any mismatch",
    "ledger_verify_balances": "per-account totals at a checkpoint, by account id",
    "ledger_verify_scratch": "a running pass's per-account totals by account id (empty between passes)",
    "ledger_verify_scratch_entries": "a running pass's entry ids (empty between passes)",
    "alert_notifications": "delivery state of alerts",
    "shadow_comparisons": "submission ids and outcomes",
    "layer_b_batches": "batch ids and counts",
    "layer_b_calls": "submission ids, token counts and costs",
    "layer_b_spend_days": "daily totals",
    "layer_b_spend_shards": "daily totals in shards",
    "layer_b_thresholds": "per-domain configuration",
    "layer_b_threshold_changes": "configuration history written by admins",
    "mission_templates": "templates written by admins",
    "attestation_effects": "problem ids and effects",
    "job_runs": "scheduler runs",
    "slow_queries": "SQL text without parameters",
    "operations_state": "alert engine state",
    "feature_flags": "flag values",
    "trend_days": "per-day aggregation state",
    "trend_figures": "per-day aggregates by domain, region and path",
    "delivery_schedules": "partner subscriptions written by admins",
    "delivery_runs": "counts, sizes and response codes of partner deliveries (payloads are never stored)",
    "export_jobs": "operator export jobs: the admin key, range, format, progress (the rows live in S3)",
}


def rows(db: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(db, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def execute(db: str, sql: str, *params: Any) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(sql, params)


@dataclass
class Subject:
    key: str
    id: str
    owner_id: str
    key_ids: list[str] = field(default_factory=list)
    key_prefixes: list[str] = field(default_factory=list)
    blob_keys: list[str] = field(default_factory=list)

    def needles(self) -> dict[str, str]:
        """Everything that identifies the subject or is their personal content."""
        found = {"id": self.id, "owner": self.owner_id, "name": NAME, "description": DESCRIPTION, "email": EMAIL,
                 "title": TITLE, "body": BODY[:40], "region": str(REGION[0]), "location": str(SUBMISSION_AT[0]),
                 "evidence": str(EVIDENCE_AT[1])}
        for i, k in enumerate(self.key_ids):
            found[f"key id {i}"] = k
        for i, p in enumerate(self.key_prefixes):
            found[f"key prefix {i}"] = p
        return found


@dataclass
class PrivacyWorld:
    api: Api
    db: str
    admin: str
    second_admin: str
    blobs: Path

    def file(self, key: str, type_: str, **body: Any) -> dict[str, Any]:
        answer = self.api.post("/v1/privacy/requests", key=key, body={"type": type_, **body})
        assert answer.status == 201, answer.body
        return dict(answer.data)

    def request(self, request_id: str, key: str | None = None) -> dict[str, Any]:
        answer = self.api.get(f"/v1/privacy/requests/{request_id}", key=key or self.admin)
        assert answer.status == 200, answer.body
        return dict(answer.data)

    def approve(self, request_id: str, reason: str = "identity verified by support ticket 42") -> Any:
        return self.api.post(f"/v1/admin/privacy/requests/{request_id}/approve", key=self.second_admin,
                             body={"reason": reason})

    def erase(self, subject: Subject) -> dict[str, Any]:
        filed = self.file(subject.key, "erase")
        assert filed["awaiting_approval"] is True
        assert self.approve(filed["id"]).status == 200
        drain_outbox()
        return self.request(filed["id"])

    def export(self, subject: Subject) -> tuple[dict[str, Any], dict[str, bytes]]:
        filed = self.file(subject.key, "export")
        drain_outbox()
        done = self.request(filed["id"], subject.key)
        assert done["status"] == "completed", done
        link = self.api.get(f"/v1/privacy/requests/{filed['id']}/download", key=subject.key)
        assert link.status == 200, link.body
        status, body = raw_get(link.data["url"])
        assert status == 200
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return done, {name: archive.read(name) for name in archive.namelist()}


def raw_get(url: str) -> tuple[int, bytes]:
    from chalice.test import Client

    from app import app

    path = url.split("127.0.0.1:8000", 1)[-1]
    with Client(app, stage_name="test") as client:
        response = client.http.get(path, headers={"Accept": "*/*"})
    return response.status_code, response.body


@pytest.fixture
def privacy_world(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivacyWorld]:
    from chalicelib.bootstrap import reset_blob_store
    from chalicelib.config import reset_settings

    blobs = tmp_path / "blobs"
    monkeypatch.setenv("BLOB_DIR", str(blobs))
    monkeypatch.setenv("EVIDENCE_STORE", "local")
    for name in ("RATE_LIMIT_AGENT_PER_MIN", "RATE_LIMIT_ADMIN_PER_MIN", "RATE_LIMIT_HUMAN_PER_MIN",
                 "RATE_LIMIT_REGISTER_PER_MIN"):
        monkeypatch.setenv(name, "100000")
    monkeypatch.setenv("TRUST_VERIFIED_MIN_AGE_DAYS", "0")
    monkeypatch.setenv("TRUST_VERIFIED_MIN_APPROVALS", "0")
    reset_settings()
    reset_blob_store()
    with api_client() as api:
        yield PrivacyWorld(api=api, db=db, admin=admin_key(), second_admin=admin_key(), blobs=blobs)
    reset_blob_store()


def run_request(request_id: UUID, *, crash_after: str | None = None) -> str:
    """The privacy-request worker's use case, wired as the worker wires it."""
    from chalicelib import bootstrap
    from chalicelib.services import privacy_job, privacy_jobs

    stores = privacy_job.Stores(blobs=bootstrap.blob_store(), exports=bootstrap.subject_export_store())
    return privacy_jobs.run_request(bootstrap.unit_of_work(), stores, bootstrap.job_locks(), request_id,
                                    crash_after=crash_after)


def run_retention() -> dict[str, Any]:
    """The daily retention run, wired as its schedule wires it."""
    from chalicelib import bootstrap
    from chalicelib.services import retention

    return retention.run(bootstrap.unit_of_work(), bootstrap.blob_store(), bootstrap.subject_export_store())


def register(world: PrivacyWorld, name: str, kind: str = "agent", key: str | None = None, *,
             description: str = "", owner_id: str | None = None) -> Subject:
    extra = {"owner_id": owner_id} if owner_id is not None else {}
    api_key, agent = world.api.register(name, kind=kind, key=key, description=description, **extra)
    keys = rows(world.db, "SELECT id::text, prefix FROM api_keys WHERE agent_id = %s", agent["id"])
    return Subject(key=api_key, id=agent["id"], owner_id=str(agent.get("owner_id") or rows(
        world.db, "SELECT owner_id::text AS o FROM agents WHERE id = %s", agent["id"])[0]["o"]),
        key_ids=[k["id"] for k in keys], key_prefixes=[k["prefix"] for k in keys])


def populate(world: PrivacyWorld) -> tuple[Subject, Subject]:
    """The subject (an agent) with personal data in every table that can hold some, and a bystander
    whose data must survive the subject's erasure untouched."""
    from chalicelib import bootstrap
    from chalicelib.bootstrap import blob_store
    from chalicelib.domain import personal_data as pd
    from chalicelib.domain.layer_b import ClassifierInput, cache_key
    from chalicelib.services.evidence_upload import processed_key, quarantine_key

    db, api = world.db, world.api
    subject = register(world, NAME, description=DESCRIPTION)
    bystander = register(world, "Bystander Agent")
    store = blob_store()

    # Submissions through the API (Layer A, the guardrail stage, the ledger), one with a place.
    ids = []
    for i in range(3):
        answer = api.post("/v1/submissions", key=subject.key, body={
            "kind": "problem", "title": TITLE if i == 0 else f"{TITLE} ({i})",
            "body": f"{BODY} Write to {EMAIL}." if i == 0 else BODY,
            "domain": "disaster_response",
            **({"location": {"latitude": SUBMISSION_AT[0], "longitude": SUBMISSION_AT[1]}} if i == 0 else {})})
        assert answer.status == 201, answer.body
        ids.append(answer.data["id"])
    other = api.post("/v1/submissions", key=bystander.key, body={
        "kind": "problem", "title": "Broken streetlight on Elm Row", "body": "The streetlight has been out for "
        "a week and the corner is dark at night.", "domain": "community_building"})
    assert other.status == 201, other.body
    drain_outbox()
    first, other_id = ids[0], other.data["id"]

    # The subject as a validator: home regions through the API, a vote on the bystander's content.
    execute(db, "INSERT INTO validators (agent_id) VALUES (%s), (%s) ON CONFLICT DO NOTHING", subject.id,
            bystander.id)
    assert api.put("/v1/validator/regions", key=subject.key, body={"regions": [
        {"latitude": REGION[0], "longitude": REGION[1], "label": "home near the Viktualienmarkt"}]}).status == 200
    seal = bootstrap.field_cipher()
    execute(db, "UPDATE agents SET name_enc = %s, description_enc = %s, name_index = %s WHERE id = %s",
            seal.encrypt(NAME, context=pd.HUMAN_NAME.context),
            seal.encrypt(DESCRIPTION, context=pd.HUMAN_DESCRIPTION.context),
            seal.blind_index(NAME, purpose="human_name"), subject.id)
    execute(db, "UPDATE validator_regions SET location_enc = %s WHERE agent_id = %s",
            seal.encrypt_json(list(REGION), context=pd.REGION_LOCATION.context), subject.id)
    execute(db, "INSERT INTO consents (human_id, purpose, granted, policy_version, source, granted_at) VALUES"
            " (%s, 'location_on_evidence', true, '2026-01', 'api', now())", subject.id)
    execute(db, "INSERT INTO consent_events (human_id, purpose, action, policy_version, source) VALUES"
            " (%s, 'location_on_evidence', 'granted', '2026-01', 'api')", subject.id)
    now = datetime.now(UTC)
    for sub_id in (first, other_id):
        execute(db, "INSERT INTO consensus_decisions (submission_id, mode, layer_b_decision, layer_b_valid, assigned,"
                " opened_at, expires_at, arithmetic) VALUES (%s, 'shadow', 'approved', true, 3, %s, %s, %s)"
                " ON CONFLICT DO NOTHING", sub_id, now, now + timedelta(minutes=30),
                Jsonb({"votes": [{"validator_id": subject.id, "weight": 1.0}]}))
    execute(db, "INSERT INTO evaluations (submission_id, validator_id, mode, tier_at_assignment, status, assigned_at,"
            " expires_at, decision, confidence, reasoning, safety_flagged, responded_at) VALUES"
            " (%s, %s, 'shadow', 'apprentice', 'answered', %s, %s, 'approve', 0.9, %s, false, %s),"
            " (%s, %s, 'shadow', 'apprentice', 'answered', %s, %s, 'approve', 0.8, %s, false, %s)",
            other_id, subject.id, now, now + timedelta(minutes=30), f"Seen it myself, {NAME}", now,
            first, bystander.id, now, now + timedelta(minutes=30), f"Quoting: {BODY}", now)
    execute(db, "INSERT INTO validator_tier_changes (agent_id, old_tier, new_tier, f1_score, scored_evaluations,"
            " reason) VALUES (%s, 'apprentice', 'journeyman', 0.9, 60, 'promotion')", subject.id)
    execute(db, "INSERT INTO decision_trail (submission_id, stage, verdict) VALUES (%s, 'layer_b', %s)", first,
            Jsonb({"decision": "approved", "reasoning": f"'{TITLE}' describes a real hazard"}))
    execute(db, "INSERT INTO shadow_comparisons (submission_id, consensus_outcome, layer_b_decision, agrees)"
            " VALUES (%s, 'approved', 'approved', true)", first)
    execute(db, "INSERT INTO spot_checks (submission_id, peer_outcome, status, layer_b_decision, layer_b_result,"
            " agrees) VALUES (%s, 'approved', 'completed', 'approved', %s, true)", first,
            Jsonb({"reasoning": f"The text says: {BODY}"}))
    execute(db, "INSERT INTO layer_b_cache (cache_key, classifier, model, assessment, expires_at) VALUES"
            " (%s, 'anthropic', 'm', %s, now() + interval '1 hour') ON CONFLICT DO NOTHING",
            # the classifier sees (and the cache is keyed by) the stored, masked text
            cache_key(ClassifierInput(kind="problem", domain="disaster_response", **rows(
                db, "SELECT title, body FROM submissions WHERE id = %s", first)[0])),
            Jsonb({"reasoning": f"About '{TITLE}'"}))

    # Review queue, flags, alerts, the outbox: places where operators and stages mention people.
    # What operators did to the subject and its key, with reasons that name them.
    execute(db, "INSERT INTO admin_actions (actor, action, subject_type, subject_id, reason, details) VALUES"
            " ('admin:x', 'agent_suspended', 'agent', %s, %s, %s), ('admin:x', 'key_revoked', 'api_key', %s, %s,"
            " '{}')", subject.id, f"spam from {NAME}", Jsonb({"agent_id": subject.id}), subject.key_ids[0],
            f"leaked by {NAME}")
    execute(db, "INSERT INTO validator_quota_resets (agent_id, actor, reason, modes, live_before, shadow_before)"
            " VALUES (%s, 'admin:x', %s, '{live}', 3, 0)", subject.id, f"asked by {NAME}")
    review = uuid4()
    execute(db, "INSERT INTO review_items (id, subject_type, subject_id, source, reason, details) VALUES"
            " (%s, 'agent', %s, 'operator', 'suspicious', %s)", review, subject.id, Jsonb({"name": NAME}))
    execute(db, "INSERT INTO review_item_events (item_id, action, from_status, to_status, actor, notes) VALUES"
            " (%s, 'claim', 'pending', 'claimed', 'admin:x', %s)", review, f"looked at {subject.id}")
    assert api.put("/v1/admin/flags/SPOT_CHECK_PCT", key=world.admin, body={
        "value": 5, "reason": f"after the reports about agent {subject.id}"}).status == 200
    execute(db, "INSERT INTO alerts (rule, severity, title, details, dedup_key) VALUES ('collusion', 'warning',"
            " 'pair agrees', %s, %s)", Jsonb({"validators": [subject.id, bystander.id]}), f"collusion:{subject.id}")
    execute(db, "INSERT INTO outbox (topic, payload, sent_at) VALUES ('guardrail', %s, now())",
            Jsonb({"agent_id": subject.id}))

    # Hyperlocal: a mission the subject created, evidence (processed and a quarantine leftover), a pair,
    # an attestation of the bystander's problem.
    template = api.post("/v1/admin/mission-templates", key=world.admin, body={
        "name": "Check the underpass", "domain": "disaster_response", "difficulty": "easy", "required_photos": 2,
        "completion_criteria": {"photo_pairs": 1, "gps_check": True, "min_minutes_between": 30},
        "steps": ["Photograph", "Fix", "Photograph again"], "gps_radius_m": 100, "duration_minutes": 120})
    assert template.status == 201, template.body
    mission = api.post("/v1/missions", key=subject.key, body={
        "template_id": template.data["id"], "location": {"latitude": 45.0, "longitude": 9.0},
        "reward_millicredits": 1000})
    assert mission.status == 201, mission.body
    pair = uuid4()
    execute(db, "INSERT INTO evidence_pairs (id, mission_id, human_id) VALUES (%s, %s, %s)", pair,
            mission.data["id"], subject.id)
    ready, rejected = uuid4(), uuid4()
    execute(db, "INSERT INTO evidence (id, mission_id, human_id, pair_id, sequence, content_type, size_bytes,"
            " captured_at, location_enc, status, processed_key, processed_content_type, processed_bytes,"
            " width, height, sha256, coarse_latitude, coarse_longitude) VALUES (%s, %s, %s, %s, 'before', 'image/jpeg',"
            " 100, now(), %s, 'ready', %s, 'image/jpeg', 100, 10, 10, 'abc', 41.9, 12.5)",
            ready, mission.data["id"], subject.id, pair,
            seal.encrypt_json(list(EVIDENCE_AT), context=pd.EVIDENCE_LOCATION.context),
            processed_key(ready, "image/jpeg"))
    execute(db, "INSERT INTO evidence (id, mission_id, human_id, sequence, content_type, size_bytes, captured_at,"
            " latitude, longitude, status, rejection_code) VALUES (%s, %s, %s, 'standalone', 'image/jpeg', 100, now(),"
            " %s, %s, 'rejected', 'decode_failed')", rejected, mission.data["id"], subject.id, EVIDENCE_AT[0],
            EVIDENCE_AT[1])
    store.put(processed_key(ready, "image/jpeg"), b"\xff\xd8processed pixels\xff\xd9", "image/jpeg")
    store.put(quarantine_key(rejected), b"\xff\xd8Exif " + NAME.encode() + b" GPS " + str(EVIDENCE_AT[1]).encode(),
              "image/jpeg")
    subject.blob_keys = [processed_key(ready, "image/jpeg"), quarantine_key(rejected)]
    execute(db, "INSERT INTO attestations (problem_id, human_id, status, note) VALUES (%s, %s, 'confirmed', %s)",
            other_id, subject.id, f"I live next door, {NAME}")
    # A bystander's photo, which must survive.
    theirs = uuid4()
    execute(db, "INSERT INTO evidence (id, mission_id, human_id, sequence, content_type, size_bytes, captured_at,"
            " status, processed_key, processed_content_type, processed_bytes, width, height, sha256)"
            " VALUES (%s, %s, %s, 'standalone', 'image/jpeg', 100, now(), 'ready', %s, 'image/jpeg', 100, 10, 10, 'x')",
            theirs, mission.data["id"], bystander.id, processed_key(theirs, "image/jpeg"))
    store.put(processed_key(theirs, "image/jpeg"), b"\xff\xd8their pixels\xff\xd9", "image/jpeg")
    bystander.blob_keys = [processed_key(theirs, "image/jpeg")]
    return subject, bystander


def text_columns(db: str) -> list[tuple[str, str]]:
    found = rows(db, "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                     " JOIN information_schema.tables t ON t.table_schema = c.table_schema"
                     "  AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'"
                     " WHERE c.table_schema = 'public' ORDER BY 1, c.ordinal_position")
    return [(r["table_name"], r["column_name"]) for r in found]


def scan_tables(db: str, needles: dict[str, str]) -> dict[str, list[str]]:
    """Every column of every table, cast to text, searched case-insensitively: table -> what was found."""
    hits: dict[str, list[str]] = {}
    with psycopg.connect(db) as conn:
        for table, column in text_columns(db):
            for label, needle in needles.items():
                row = conn.execute(
                    psycopg.sql.SQL("SELECT count(*) FROM {} WHERE strpos(lower({}::text), %s) > 0").format(
                        psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)),
                    (needle.lower(),)).fetchone()
                if row and row[0]:
                    hits.setdefault(table, []).append(f"{column}: {label}")
        # Ciphertexts hide nothing from this scan: every registered encrypted column is read in clear.
        from chalicelib import bootstrap
        from chalicelib.domain.personal_data import ENCRYPTED_COLUMNS

        seal = bootstrap.field_cipher()
        for target in ENCRYPTED_COLUMNS:
            tokens = conn.execute(psycopg.sql.SQL("SELECT {} FROM {} WHERE {} IS NOT NULL").format(
                psycopg.sql.Identifier(target.column), psycopg.sql.Identifier(target.table),
                psycopg.sql.Identifier(target.column))).fetchall()
            for (token,) in tokens:
                clear = seal.decrypt(token, context=target.context).lower()
                for label, needle in needles.items():
                    if needle.lower() in clear:
                        hits.setdefault(target.table, []).append(f"{target.column} (decrypted): {label}")
    return hits


def scan_blobs(root: Path, needles: dict[str, str]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            hits += [f"{path.relative_to(root)}: {label}" for label, needle in needles.items()
                     if needle.lower().encode() in data]
            if path.suffix == ".zip":
                with zipfile.ZipFile(path) as archive:
                    for name in archive.namelist():
                        inner = archive.read(name).lower()
                        hits += [f"{path.name}/{name}: {label}" for label, needle in needles.items()
                                 if needle.lower().encode() in inner]
    return hits


def all_tables(db: str) -> set[str]:
    return {r["table_name"] for r in rows(db, "SELECT table_name FROM information_schema.tables"
                                              " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")}


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
