"""Personal data at rest and consent, as a story: a human with a name, a validator with a home, a photo
with precise coordinates, a submission with a phone number. Read raw, the tables hold none of it;
through the API their owners read it back. Keys rotate without loss; consent withdrawn is honoured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chalicelib import bootstrap
from chalicelib.services import personal_data
from tests.integration.evidence_support import World, leaky_jpeg, world
from tests.support import admin_key, api_client, drain_outbox

__all__ = ["world"]

NAME = "Zofia Wrzesniewska-Kowalczyk"
DESCRIPTION = "Retired nurse, lives above the bakery on Via Morigi"
EVIDENCE_POINT = (45.464283, 9.189671)  # where the human stood: near the site, not the site
HOME = (48.858370, 2.294481)
PHONE = "+39 02 8945 1234"


def dump_every_table(db: str) -> str:
    """Every row of every table, as text."""
    with psycopg.connect(db) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()]
        chunks = []
        for table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
            chunks += [f"{table}: {r[0]}" for r in rows]
    return "\n".join(chunks)


def coordinate_texts(point: tuple[float, float]) -> list[str]:
    return [text for value in point for text in (repr(value), f"{value:.5f}", f"{value:.4f}")]


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings

    path = tmp_path / "keys" / "data-key"
    monkeypatch.setenv("LOCAL_KEY_FILE", str(path))
    reset_settings()
    bootstrap.reset()
    return path


def test_raw_tables_hold_no_plaintext_personal_data_and_owners_read_it_back(
        key_file: Path, world: World, db: str) -> None:
    api = world.api
    human, profile = api.register(NAME, kind="human", description=DESCRIPTION)
    assert profile["name"] == NAME  # the registration answers with what was sent
    photo = world.register(key=human, latitude=EVIDENCE_POINT[0], longitude=EVIDENCE_POINT[1])
    assert photo.status == 201, photo.body
    validator, _ = api.register("validator-at-home")
    from chalicelib.services import validators as peer_validation
    from chalicelib.services.agents import authenticate

    principal = authenticate(bootstrap.unit_of_work(), f"Bearer {validator}")
    assert principal.agent_id is not None
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO validators (agent_id) VALUES (%s)", (principal.agent_id,))
    regions = api.put("/v1/validator/regions", key=validator,
                      body={"regions": [{"latitude": HOME[0], "longitude": HOME[1], "label": "home"}]})
    assert regions.status == 200, regions.body
    submitted = api.post("/v1/submissions", key=world.agent, body={
        "kind": "problem", "title": "Flooded underpass",
        "body": f"The underpass floods after rain; call {PHONE} to report it."})
    assert submitted.status == 201, submitted.body
    assert PHONE not in submitted.data["body"]
    # Layer B (its calls, cache and trail) and everything downstream see only the masked text.
    assert drain_outbox() >= 1

    raw = dump_every_table(db)
    leaks = [needle for needle in [NAME, "Wrzesniewska", DESCRIPTION, "bakery", PHONE, "8945 1234",
                                   *coordinate_texts(EVIDENCE_POINT), *coordinate_texts(HOME), "127.0.0.1"]
             if needle in raw]
    assert leaks == []
    assert "enc1:local-1:" in raw
    # Registrations are limited per client address and rate-limit buckets per route: both keep a keyed
    # hash of the address, never the address nor an unkeyed hash (all IPv4 addresses are quickly tried).
    from chalicelib.domain.registration import address_fingerprint
    with psycopg.connect(db) as conn:
        buckets = [r[0] for r in conn.execute("SELECT bucket FROM rate_limit_windows").fetchall()]
        fingerprints = {r[0] for r in conn.execute(
            "SELECT address_fingerprint FROM registrations WHERE registered_by = 'anonymous'").fetchall()}
    by_address = [b for b in buckets if not b.startswith(("evidence:", "key:", "attestations:"))]
    assert all(b.startswith("iph:") for b in by_address), by_address
    assert fingerprints and address_fingerprint("127.0.0.1") not in fingerprints
    assert fingerprints == {personal_data.client_address_key(bootstrap.unit_of_work(), "127.0.0.1")[:32]}

    # Their owners (and admins) read them back through the API.
    me = api.get("/v1/agents/me", key=human).data
    assert (me["name"], me["description"]) == (NAME, DESCRIPTION)
    evidence = api.get(f"/v1/evidence/{photo.data['evidence']['id']}", key=human).data
    assert evidence["declared_location"] == {"latitude": round(EVIDENCE_POINT[0], 2),
                                             "longitude": round(EVIDENCE_POINT[1], 2)}
    stats = peer_validation.validator_stats(bootstrap.unit_of_work(), principal.agent_id)
    assert [(r["latitude"], r["longitude"]) for r in stats["home_regions"]] == [HOME]
    original = api.get(f"/v1/submissions/{submitted.data['id']}", key=world.agent).data["original"]
    assert PHONE in original["body"]

    # Lookups by name work through the blind index, whatever the case and spacing.

    found = personal_data.find_humans_by_name(bootstrap.unit_of_work(), "  zofia   wrzesniewska-KOWALCZYK ")
    assert [str(i) for i in found] == [me["id"]]


def test_rotation_re_encrypts_everything_resumably_without_loss(key_file: Path, world: World, db: str) -> None:
    from chalicelib.adapters.field_crypto import LocalKeyFile

    api = world.api
    humans = [api.register(f"{NAME} {i}", kind="human", description=DESCRIPTION)[0] for i in range(3)]
    ids = []
    for i in range(3):
        created = api.post("/v1/submissions", key=world.agent, body={
            "kind": "problem", "title": f"Pump {i} broken", "body": f"Call {PHONE} about pump {i}."})
        ids.append(created.data["id"])
    admin = world.admin
    before = api.get("/v1/admin/privacy/keys", key=admin).data
    assert before["current_key_id"] == "local-1"
    assert before["columns"]["submission_originals.body"] == {"local-1": 3}

    assert LocalKeyFile(key_file).rotate() == "local-2"
    from chalicelib import bootstrap

    bootstrap.reset()  # a new process reads the rotated key file
    # Interrupted runs: one value at a time, then the rest through the admin route.
    first = personal_data.rotate_keys(bootstrap.unit_of_work(), batch_size=1, max_batches=1)
    assert first.current_key_id == "local-2" and sum(first.reencrypted.values()) >= 1 and not first.done
    remaining = first.remaining
    second = personal_data.rotate_keys(bootstrap.unit_of_work(), batch_size=1, max_batches=1)
    assert second.remaining < remaining
    finished = api.post("/v1/admin/privacy/keys/rotate", key=admin)
    assert finished.status == 200, finished.body
    assert finished.data["done"] is True and finished.data["remaining"] == 0
    after = api.get("/v1/admin/privacy/keys", key=admin).data
    assert all(set(counts) <= {"local-2"} for counts in after["columns"].values()), after
    # Nothing lost: every value still reads the same.
    for i, sub_id in enumerate(ids):
        assert api.get(f"/v1/submissions/{sub_id}", key=world.agent).data["original"]["body"] == \
            f"Call {PHONE} about pump {i}."
    for i, key in enumerate(humans):
        assert api.get("/v1/agents/me", key=key).data["name"] == f"{NAME} {i}"
    again = personal_data.rotate_keys(bootstrap.unit_of_work())
    assert again.reencrypted == {} and again.done
    assert api.post("/v1/admin/privacy/keys/rotate", key=humans[0]).status == 403


def test_an_undecryptable_value_is_left_in_place_and_reported(key_file: Path, world: World, db: str) -> None:
    from chalicelib.adapters.field_crypto import LocalKeyFile

    _, damaged = world.api.register(NAME, kind="human")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE agents SET description_enc = 'enc1:local-1:AAAA:AAAA' WHERE id = %s", (damaged["id"],))
    LocalKeyFile(key_file).rotate()
    from chalicelib import bootstrap

    bootstrap.reset()
    report = personal_data.rotate_keys(bootstrap.unit_of_work())
    assert report.failed == 1 and report.remaining == 1 and not report.done
    with psycopg.connect(db) as conn:
        [(kept,)] = conn.execute("SELECT description_enc FROM agents WHERE id = %s", (damaged["id"],)).fetchall()
    assert kept == "enc1:local-1:AAAA:AAAA"


# --- consent ---------------------------------------------------------------------------------------


def test_a_human_withdraws_location_consent_and_new_evidence_keeps_no_coordinates(world: World, db: str) -> None:
    api = world.api
    start = api.get("/v1/me/consents", key=world.human).data
    purposes = {c["purpose"]: c for c in start["consents"]}
    assert purposes["location_on_evidence"]["granted"] is True and purposes["location_on_evidence"]["answered"] is False
    assert purposes["contact_for_missions"]["granted"] is False

    kept = world.register()
    assert kept.status == 201
    version = start["policy_version"]
    withdrawn = api.put("/v1/me/consents", key=world.human, body={
        "policy_version": version, "consents": [{"purpose": "location_on_evidence", "granted": False},
                                                {"purpose": "contact_for_missions", "granted": True}]})
    assert withdrawn.status == 200, withdrawn.body
    now = {c["purpose"]: c for c in withdrawn.data["consents"]}
    assert now["location_on_evidence"]["granted"] is False and now["location_on_evidence"]["withdrawn_at"]
    assert now["contact_for_missions"]["granted"] is True and now["contact_for_missions"]["source"] == "api"
    assert [(h["purpose"], h["action"]) for h in withdrawn.data["history"]] == [
        ("location_on_evidence", "withdrawn"), ("contact_for_missions", "granted")]

    # The photo's declared coordinates are dropped, and the privacy stage keeps no coarse location
    # from its EXIF GPS either.
    later = world.submit(leaky_jpeg())
    assert later["evidence"]["declared_location"] is None
    assert drain_outbox() == 1
    processed = world.evidence(later["evidence"]["id"])
    assert processed["status"] == "ready" and processed["coarse_location"] is None
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT id::text, location_enc IS NOT NULL, location_allowed, latitude FROM evidence"
                            " ORDER BY created_at").fetchall()
    assert rows == [(kept.data["evidence"]["id"], True, True, None),
                    (later["evidence"]["id"], False, False, None)]
    # A pair photo for a mission that checks GPS cannot be taken without the location: a clear 409.
    paired = world.register(sequence="before")
    assert (paired.status, paired.error["details"]) == (409, {"consent": "location_on_evidence", "rule": "gps_check"})

    # Granting again applies from then on; the same answer twice records nothing new.
    again = api.put("/v1/me/consents", key=world.human, body={
        "policy_version": version, "consents": [{"purpose": "location_on_evidence", "granted": True}]})
    same = api.put("/v1/me/consents", key=world.human, body={
        "policy_version": version, "consents": [{"purpose": "location_on_evidence", "granted": True}]})
    assert len(same.data["history"]) == len(again.data["history"]) == 3
    assert world.register().data["evidence"]["declared_location"] is not None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"policy_version": "1999-01-01", "consents": [{"purpose": "contact_for_missions", "granted": True}]},
         409, "CONFLICT"),
        ({"policy_version": "2026-12-01", "consents": [{"purpose": "sell_my_data", "granted": True}]},
         400, "VALIDATION_ERROR"),
        ({"policy_version": "2026-12-01", "consents": []}, 400, "VALIDATION_ERROR"),
        ({"policy_version": "2026-12-01", "consents": [{"purpose": "contact_for_missions", "granted": "yes"}]},
         400, "VALIDATION_ERROR"),
        ({"policy_version": "2026-12-01", "consents": [{"purpose": "contact_for_missions", "granted": True},
                                                       {"purpose": "contact_for_missions", "granted": False}]},
         400, "VALIDATION_ERROR"),
        ({"consents": [{"purpose": "contact_for_missions", "granted": True}]}, 400, "VALIDATION_ERROR"),
    ],
)
def test_bad_consent_answers_get_a_clear_4xx_and_change_nothing(
        db: str, body: dict[str, Any], status: int, code: str) -> None:
    with api_client() as api:
        human, _ = api.register("careful", kind="human")
        answer = api.put("/v1/me/consents", key=human, body=body)
        assert (answer.status, answer.error["code"]) == (status, code)
        assert api.get("/v1/me/consents", key=human).data["history"] == []


def test_only_humans_have_consents(db: str) -> None:
    with api_client() as api:
        agent, _ = api.register("bot")
        assert api.get("/v1/me/consents", key=agent).status == 403
        assert api.get("/v1/me/consents", key=admin_key()).status == 403
        assert api.get("/v1/me/consents").status == 401


# --- AWS KMS through the composition root ----------------------------------------------------------


@pytest.fixture
def kms_env(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import boto3
    from moto import mock_aws

    from chalicelib import bootstrap
    from chalicelib.config import reset_settings

    with mock_aws():
        key = boto3.client("kms", region_name="us-east-1").create_key(Description="pii")["KeyMetadata"]
        secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="peerguard/test/pii-index", SecretString="x" * 48)
        monkeypatch.setenv("PII_KMS_KEY_ARN", key["Arn"])
        monkeypatch.setenv("PII_INDEX_SECRET_ARN", secret["ARN"])
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        reset_settings()
        bootstrap.reset()
        yield key["KeyId"]
    reset_settings()
    bootstrap.reset()


def test_in_aws_the_data_keys_come_from_kms(kms_env: str, db: str) -> None:
    from chalicelib import bootstrap
    from chalicelib.adapters.field_crypto import KmsKeySource

    assert isinstance(bootstrap.field_cipher()._keys, KmsKeySource)
    with api_client() as api:
        human, _ = api.register(NAME, kind="human", description=DESCRIPTION)
        assert api.get("/v1/agents/me", key=human).data["name"] == NAME
        agent, _ = api.register("kms-agent")
        created = api.post("/v1/submissions", key=agent, body={
            "kind": "problem", "title": "Pump", "body": f"Call {PHONE}."})
        assert api.get(f"/v1/submissions/{created.data['id']}", key=agent).data["original"]["body"] == \
            f"Call {PHONE}."
        usage = api.get("/v1/admin/privacy/keys", key=admin_key()).data
    assert usage["current_key_id"] == f"kms-{kms_env}"
    assert usage["columns"]["agents.name_enc"] == {f"kms-{kms_env}": 1}
    raw = dump_every_table(db)
    assert NAME not in raw and PHONE not in raw
