"""Photo evidence through the API, the local blob store and the privacy stage (defect 8).

A human registers a photo, uploads it into quarantine, the privacy stage cleans it: nothing of the
phone's metadata survives, faces are blurred, the original is gone, and only the processed copy can
be downloaded. Any failure quarantines the photo; an admin may retry it three times."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import piexif
import psycopg
import pytest
from PIL import Image

from chalicelib import bootstrap
from tests.integration.evidence_support import SECRETS, SITE, World, leaky_jpeg, path_of, raw_get, world
from tests.support import drain_outbox

__all__ = ["world"]

ROOT = Path(__file__).resolve().parents[2]
GRACE_HOPPER = ROOT / "tests" / "fixtures" / "images" / "grace_hopper.jpg"


def row(db: str, evidence_id: str) -> dict[str, Any]:
    with psycopg.connect(db) as conn:
        cur = conn.execute("SELECT * FROM evidence WHERE id = %s", (UUID(evidence_id),))
        found = cur.fetchone()
        assert found is not None and cur.description is not None
        return dict(zip([c.name for c in cur.description], found, strict=True))


def outbox_count(db: str) -> int:
    with psycopg.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])  # type: ignore[index]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- the happy path ------------------------------------------------------------------------------


def test_defect_8_a_photo_is_stripped_reencoded_and_the_original_deleted(world: World, db: str) -> None:
    """The earlier system's "stripping" kept the EXIF and stored the original as uploaded."""
    original = leaky_jpeg()
    registered = world.submit(original)
    evidence_id = registered["evidence"]["id"]
    assert registered["upload"]["method"] == "PUT"
    assert registered["upload"]["headers"] == {"Content-Type": "image/jpeg", "Content-Length": str(len(original))}
    waiting = world.evidence(evidence_id)
    assert waiting["status"] == "quarantined" and waiting["uploaded_at"] is not None
    assert waiting["download"] is None and waiting["privacy"] is None
    assert files_under(world.blobs) == [f"quarantine/{evidence_id}"]

    assert drain_outbox() == 1

    ready = world.evidence(evidence_id)
    assert ready["status"] == "ready"
    stored = world.blobs / "processed" / f"{evidence_id}.jpg"
    assert files_under(world.blobs) == [f"processed/{evidence_id}.jpg"]  # the original is gone
    processed = stored.read_bytes()
    assert [s for s in SECRETS if s in processed] == []
    assert piexif.load(processed) == {"0th": {}, "Exif": {}, "GPS": {}, "Interop": {}, "1st": {}, "thumbnail": None}
    with Image.open(io.BytesIO(processed)) as image:
        assert not ({"exif", "xmp", "comment", "icc_profile", "photoshop"} & set(image.info))
        # Orientation 6 (rotate 90) was applied to the pixels: the stored photo is portrait.
        assert image.size == (240, 320)
    privacy = ready["privacy"]
    assert privacy["orientation_applied"] is True and (privacy["width"], privacy["height"]) == (240, 320)
    assert {"exif", "gps", "identifiers", "xmp", "comments"} <= set(privacy["removed_metadata"])
    assert privacy["sha256"] == hashlib.sha256(processed).hexdigest()
    assert ready["coarse_location"] is not None
    assert abs(ready["coarse_location"]["latitude"] - SITE[0]) < 0.06
    assert abs(ready["coarse_location"]["longitude"] - SITE[1]) < 0.06
    assert row(db, evidence_id)["original_deleted_at"] is not None

    status, headers, body = raw_get(path_of(ready["download"]["url"]))
    assert status == 200, body
    assert headers["content-type"] == "image/jpeg"
    assert body == processed and body != original


def test_faces_are_blurred_unless_the_flag_turns_blurring_off(world: World, db: str) -> None:
    from chalicelib.adapters import flags_repo
    from chalicelib.db.pool import transaction

    portrait = GRACE_HOPPER.read_bytes()
    blurred_id = world.submit(portrait)["evidence"]["id"]
    drain_outbox()
    blurred = world.evidence(blurred_id)["privacy"]
    assert blurred["blur_enabled"] is True and blurred["faces_blurred"] >= 1
    assert blurred["regions_blurred"] == blurred["faces_blurred"] + blurred["plates_blurred"]

    with transaction() as conn:
        flags_repo.set_flag(conn, "PRIVACY_BLUR_ENABLED", False, actor="admin:test", reason="a test")
    plain_id = world.submit(portrait)["evidence"]["id"]
    drain_outbox()
    plain = world.evidence(plain_id)["privacy"]
    assert plain["blur_enabled"] is False and plain["faces_blurred"] == 0 and plain["regions_blurred"] == 0

    def face(evidence_id: str) -> np.ndarray:
        with Image.open(world.blobs / "processed" / f"{evidence_id}.jpg") as image:
            return np.asarray(image.convert("L"), dtype=np.float64)[95:345, 145:385]

    # Blurring flattens the face: far less detail than the same face unblurred.
    assert np.abs(np.diff(face(blurred_id), axis=1)).mean() < 0.5 * np.abs(np.diff(face(plain_id), axis=1)).mean()


def test_a_png_is_accepted_and_published_as_a_clean_jpeg(world: World) -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(out, format="PNG", pnginfo=_png_text("Author", "Jane Owner"))
    evidence_id = world.submit(out.getvalue(), content_type="image/png")["evidence"]["id"]
    drain_outbox()
    ready = world.evidence(evidence_id)
    assert ready["status"] == "ready" and ready["content_type"] == "image/png"
    assert ready["download"]["content_type"] == "image/jpeg"
    assert "text" in ready["privacy"]["removed_metadata"]
    assert b"Jane Owner" not in (world.blobs / "processed" / f"{evidence_id}.jpg").read_bytes()


def _png_text(key: str, value: str) -> Any:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


# --- registration limits -------------------------------------------------------------------------


def test_heic_is_refused_with_a_clear_message_and_nothing_is_written(world: World, db: str) -> None:
    answer = world.register(content_type="image/heic")
    assert answer.status == 415 and answer.error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "HEIC" in answer.error["message"] and "JPEG" in answer.error["message"]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM evidence").fetchone() == (0,)


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"size_bytes": 15 * 1024 * 1024 + 1}, 413, "PAYLOAD_TOO_LARGE"),
        ({"content_type": "application/pdf"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"size_bytes": 0}, 400, "VALIDATION_ERROR"),
        ({"captured_at": "2999-01-01T00:00:00+00:00"}, 400, "VALIDATION_ERROR"),
        ({"captured_at": "2026-01-01T00:00:00"}, 400, "VALIDATION_ERROR"),  # no time zone
        ({"latitude": None}, 400, "VALIDATION_ERROR"),  # longitude without latitude
        ({"sequence": "during"}, 400, "VALIDATION_ERROR"),
        ({"pair_id": "8f0c7a57-5a37-4bb2-9a3b-2b1c2cf4ce11"}, 400, "VALIDATION_ERROR"),  # standalone in a pair
        ({"sequence": "after"}, 400, "VALIDATION_ERROR"),  # after without its pair
        ({"mission_id": "8f0c7a57-5a37-4bb2-9a3b-2b1c2cf4ce11"}, 404, "NOT_FOUND"),
    ],
)
def test_bad_registrations_are_refused(world: World, fields: dict[str, Any], status: int, code: str) -> None:
    answer = world.register(**fields)
    assert answer.status == status, answer.body
    assert answer.error["code"] == code


def test_a_fifteen_megabyte_photo_is_accepted(world: World) -> None:
    assert world.register(size_bytes=15 * 1024 * 1024).status == 201


def test_only_humans_upload_evidence(world: World) -> None:
    assert world.register(key=world.agent).status == 403
    assert world.register(key=world.admin).status == 403


def test_an_expired_mission_takes_no_evidence(world: World, db: str) -> None:
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE missions SET created_at = now() - interval '2 days',"
                     " expires_at = now() - interval '1 second'")
    answer = world.register()
    assert answer.status == 409 and answer.error["code"] == "CONFLICT"


def test_uploads_are_limited_to_ten_an_hour_per_human(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.delenv("EVIDENCE_UPLOADS_PER_HOUR")
    reset_settings()
    statuses = [world.register().status for _ in range(11)]
    assert statuses == [201] * 10 + [429]
    other, _ = world.api.register("another-walker", kind="human")
    assert world.register(key=other).status == 201


# --- the local upload route ----------------------------------------------------------------------


def test_the_upload_link_checks_its_token_type_length_and_is_used_once(world: World, db: str) -> None:
    data = leaky_jpeg()
    registered = world.register(data=data).data
    url = path_of(registered["upload"]["url"])
    forged = url[: url.index("token=")] + "token=9999999999." + "0" * 64
    assert world.api.put(forged, raw=data, headers={"Content-Type": "image/jpeg"}).status == 403
    other = world.register(data=data).data
    stolen = path_of(other["upload"]["url"]).replace(other["evidence"]["id"], registered["evidence"]["id"])
    assert world.api.put(stolen, raw=data, headers={"Content-Type": "image/jpeg"}).status == 403
    assert world.upload(registered, data, content_type="image/png").status == 415
    assert world.upload(registered, data + b"\x00").status == 413
    assert world.upload(registered, data[:-1]).status == 400
    assert world.api.put(url, raw="{}", headers={"Content-Type": "application/json"}).status == 415
    assert outbox_count(db) == 0 and not (world.blobs / "quarantine").exists()

    assert world.upload(registered, data).status == 200
    again = world.upload(registered, data)
    assert again.status == 409 and again.error["code"] == "CONFLICT"
    assert outbox_count(db) == 1


def test_an_expired_upload_link_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    data = leaky_jpeg()
    registered = world.register(data=data).data
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 901)
    assert world.upload(registered, data).status == 403


# --- failures quarantine, admin retries ----------------------------------------------------------


def test_a_corrupt_photo_is_rejected_kept_unreadable_and_retried_at_most_three_times(world: World, db: str) -> None:
    corrupt = b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 50
    evidence_id = world.submit(corrupt)["evidence"]["id"]
    drain_outbox()
    rejected = world.evidence(evidence_id)
    assert rejected["status"] == "rejected" and rejected["rejection"]["code"]
    assert rejected["download"] is None and rejected["privacy"] is None
    assert files_under(world.blobs) == [f"quarantine/{evidence_id}"]  # kept for a retry, never published
    assert raw_get(f"/v1/evidence/{evidence_id}/download?token=1.ab")[0] == 404

    human_try = world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.human)
    assert human_try.status == 403
    for attempt in (1, 2, 3):
        retried = world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.admin)
        assert retried.status == 200, retried.body
        assert retried.data["status"] == "quarantined" and retried.data["retries_used"] == attempt
        drain_outbox()
        assert world.evidence(evidence_id)["status"] == "rejected"
    # The third retry failed too: the original is deleted, and there is no fourth retry.
    assert files_under(world.blobs) == []
    assert row(db, evidence_id)["original_deleted_at"] is not None
    limit = world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.admin)
    assert limit.status == 409 and limit.error["code"] == "CONFLICT"
    assert world.evidence(evidence_id)["retries_left"] == 0


def test_only_rejected_photos_are_retried(world: World) -> None:
    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    early = world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.admin)
    assert early.status == 409
    drain_outbox()
    assert world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.admin).status == 409
    assert world.api.post("/v1/admin/evidence/8f0c7a57-5a37-4bb2-9a3b-2b1c2cf4ce11/retry",
                          key=world.admin).status == 404


def test_defect_8_a_detector_error_quarantines_instead_of_meaning_no_faces(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earlier system took a failing face detector for "no faces found" and published the photo."""
    from functions.privacy import faces

    def broken() -> Any:
        raise faces.FaceModelUnavailable("the face model could not be loaded")

    monkeypatch.setattr(faces, "_loaded", broken)
    evidence_id = world.submit(GRACE_HOPPER.read_bytes())["evidence"]["id"]
    drain_outbox()
    failed = world.evidence(evidence_id)
    assert failed["status"] == "rejected" and failed["download"] is None
    assert not (world.blobs / "processed").exists() or files_under(world.blobs / "processed") == []

    # Once the detector works again, an admin retry publishes it, blurred.
    monkeypatch.undo()
    assert world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.admin).status == 200
    drain_outbox()
    fixed = world.evidence(evidence_id)
    assert fixed["status"] == "ready" and fixed["privacy"]["faces_blurred"] >= 1


# --- idempotency ---------------------------------------------------------------------------------


def test_a_duplicate_delivery_changes_nothing(world: World, db: str) -> None:
    from chalicelib.domain.outbox import OutboxMessage
    from functions.privacy.handler import handler
    from local.dispatcher import FakeLambdaContext, sqs_record

    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    with psycopg.connect(db) as conn:
        message_id, payload = conn.execute("SELECT id, payload FROM outbox").fetchone()  # type: ignore[misc]
    drain_outbox()
    before = row(db, evidence_id)
    stored = (world.blobs / "processed" / f"{evidence_id}.jpg").read_bytes()

    duplicate = {"Records": [sqs_record(OutboxMessage(message_id, "privacy", payload, None, 2), "dup-1")]}
    assert handler(duplicate, FakeLambdaContext()) == {"batchItemFailures": []}
    assert row(db, evidence_id) == before
    assert (world.blobs / "processed" / f"{evidence_id}.jpg").read_bytes() == stored
    assert outbox_count(db) == 1 and files_under(world.blobs) == [f"processed/{evidence_id}.jpg"]


def test_a_photo_being_processed_is_not_claimed_twice_until_its_lease_expires(world: World, db: str) -> None:
    from chalicelib.services import privacy_stage
    from functions.privacy.handler import clean_photo

    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE evidence SET status = 'processing', processing_started_at = now(),"
                     " processing_token = gen_random_uuid() WHERE id = %s", (UUID(evidence_id),))
    assert privacy_stage.process_evidence(bootstrap.unit_of_work(), bootstrap.blob_store(), UUID(evidence_id),
                                             clean_photo) == "in_progress"
    assert world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.admin).status == 409

    with psycopg.connect(db) as conn:  # the worker died 20 minutes ago
        conn.execute("UPDATE evidence SET processing_started_at = now() - interval '20 minutes' WHERE id = %s",
                     (UUID(evidence_id),))
    assert privacy_stage.process_evidence(bootstrap.unit_of_work(), bootstrap.blob_store(), UUID(evidence_id),
                                             clean_photo) == "ready"
    assert row(db, evidence_id)["attempts"] == 1


def test_a_malformed_record_fails_alone_in_its_batch(world: World) -> None:
    from functions.privacy.handler import handler
    from local.dispatcher import FakeLambdaContext

    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    good = {"messageId": "good", "receiptHandle": "r1", "eventSource": "aws:sqs", "attributes": {},
            "messageAttributes": {}, "body": json.dumps({"task": "process_photo", "evidence_id": evidence_id})}
    bad = {**good, "messageId": "bad", "body": json.dumps({"task": "process_photo"})}
    garbage = {**good, "messageId": "garbage", "body": "not json"}
    result = handler({"Records": [bad, good, garbage]}, FakeLambdaContext())
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["bad", "garbage"]
    assert world.evidence(evidence_id)["status"] == "ready"


# --- who sees what -------------------------------------------------------------------------------


def test_evidence_is_visible_to_its_uploader_the_mission_creator_and_admins_only(world: World) -> None:
    evidence_id = world.submit(leaky_jpeg())["evidence"]["id"]
    assert world.api.get(f"/v1/evidence/{evidence_id}", key=world.agent).status == 200
    assert world.api.get(f"/v1/evidence/{evidence_id}", key=world.admin).status == 200
    stranger, _ = world.api.register("stranger", kind="human")
    other_agent, _ = world.api.register("other-agent")
    for key in (stranger, other_agent):
        assert world.api.get(f"/v1/evidence/{evidence_id}", key=key).status == 404
    detail = world.evidence(evidence_id)
    # Declared coordinates are never shown precisely.
    assert detail["declared_location"] == {"latitude": round(SITE[0], 2), "longitude": round(SITE[1], 2)}


def test_the_api_package_never_imports_the_imaging_stack() -> None:
    code = (
        "import sys\n"
        "import app\n"
        "import chalicelib.services.evidence_upload, chalicelib.services.privacy_stage\n"
        "import chalicelib.services.pair_verification, chalicelib.adapters.blob_store\n"
        "import chalicelib.adapters.anthropic.vision, chalicelib.adapters.anthropic.classifier\n"
        "import chalicelib.entrypoints.api.evidence, chalicelib.domain.hyperlocal\n"
        "heavy = {'cv2', 'numpy', 'PIL', 'piexif', 'functions.privacy.processing', 'anthropic', 'boto3'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
