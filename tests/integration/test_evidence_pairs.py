"""Before/after pairs: one before and one after, in order, far enough apart in time, close enough in
space; once both are processed, verification decides by the improvement score (defect 9)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from chalicelib import bootstrap
from tests.fakes.anthropic_server import FakeAnthropic, HttpError, Success
from tests.integration.evidence_support import SITE, World, leaky_jpeg, new_mission, scene, world
from tests.support import drain_outbox

__all__ = ["world"]

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
METRES_PER_DEGREE = 111_195


def north(metres: float) -> dict[str, float]:
    return {"latitude": SITE[0] + metres / METRES_PER_DEGREE, "longitude": SITE[1]}


def photo(world: World, sequence: str, minutes: float, *, pair_id: str | None = None, metres: float = 0.0,
          key: str | None = None, data: bytes | None = None) -> Any:
    fields: dict[str, Any] = {"sequence": sequence, "captured_at": (START + timedelta(minutes=minutes)).isoformat(),
                              **north(metres)}
    if pair_id is not None:
        fields["pair_id"] = pair_id
    return world.register(key=key, data=data, **fields)


def opened(world: World, **kw: Any) -> str:
    answer = photo(world, "before", 0, **kw)
    assert answer.status == 201, answer.body
    return str(answer.data["evidence"]["pair_id"])


# --- the rules at registration ---------------------------------------------------------------------


def test_a_before_photo_opens_a_pair_and_its_after_photo_completes_it(world: World) -> None:
    pair_id = opened(world)
    after = photo(world, "after", 30, pair_id=pair_id)
    assert after.status == 201, after.body
    pair = world.api.get(f"/v1/evidence/pairs/{pair_id}", key=world.human).data
    assert pair["status"] == "open"
    assert pair["before"]["sequence"] == "before" and pair["after"]["id"] == after.data["evidence"]["id"]
    assert pair["criteria"] == {"min_minutes_between": 30, "gps_radius_m": 100, "gps_check": True}
    assert pair["verification"] is None


def test_a_client_may_name_the_pair_of_its_before_photo(world: World) -> None:
    chosen = str(uuid4())
    assert opened(world, pair_id=chosen) == chosen


def test_the_after_photo_cannot_come_first(world: World) -> None:
    answer = photo(world, "after", 30, pair_id=str(uuid4()))
    assert answer.status == 409 and answer.error["details"]["rule"] == "order"


def test_the_after_photo_must_wait_the_templates_minimum_minutes(world: World) -> None:
    pair_id = opened(world)
    early = photo(world, "after", 29.9, pair_id=pair_id)
    assert early.status == 409 and early.error["details"]["rule"] == "min_minutes_between"
    backwards = photo(world, "after", -10, pair_id=pair_id)
    assert backwards.status == 409
    assert photo(world, "after", 30, pair_id=pair_id).status == 201


def test_photos_must_be_taken_within_the_templates_radius(world: World) -> None:
    far = photo(world, "before", 0, metres=101)
    assert far.status == 409 and far.error["details"] == {"rule": "gps_radius", "distance_m": 101, "radius_m": 100}
    pair_id = opened(world, metres=-60)
    # Each photo within 100 m of the site, but 120 m apart from each other.
    apart = photo(world, "after", 45, pair_id=pair_id, metres=60)
    assert apart.status == 409 and apart.error["details"]["rule"] == "gps_radius"
    assert photo(world, "after", 45, pair_id=pair_id, metres=39).status == 201
    no_gps = world.register(sequence="before", latitude=None, longitude=None)
    assert no_gps.status == 400


def test_a_template_without_gps_check_ignores_positions(world: World) -> None:
    world.mission = new_mission(world.api, world.admin, world.agent, name="No GPS needed",
                                completion_criteria={"photo_pairs": 1, "gps_check": False, "min_minutes_between": 0})
    pair_id = opened(world, metres=50_000)
    assert photo(world, "after", 0.5, pair_id=pair_id, metres=-50_000).status == 201


def test_a_pair_takes_one_before_and_one_after_only(world: World, db: str) -> None:
    pair_id = opened(world)
    second_before = photo(world, "before", 1, pair_id=pair_id)
    assert second_before.status == 409 and second_before.error["code"] == "DUPLICATE"
    assert photo(world, "after", 40, pair_id=pair_id).status == 201
    second_after = photo(world, "after", 50, pair_id=pair_id)
    assert second_after.status == 409 and second_after.error["code"] == "DUPLICATE"
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT sequence FROM evidence ORDER BY created_at").fetchall() == [("before",), ("after",)]


def test_a_rejected_photo_frees_its_place_in_the_pair(world: World, db: str) -> None:
    pair_id = opened(world)
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE evidence SET status = 'rejected', rejection_code = 'corrupt'")
    assert photo(world, "before", 2, pair_id=pair_id).status == 201
    pair = world.api.get(f"/v1/evidence/pairs/{pair_id}", key=world.human).data
    assert len(pair["rejected_photos"]) == 1 and pair["before"]["status"] == "quarantined"


def test_pairs_belong_to_their_human_and_their_mission(world: World) -> None:
    pair_id = opened(world)
    stranger, _ = world.api.register("stranger", kind="human")
    assert photo(world, "after", 30, pair_id=pair_id, key=stranger).status == 404
    assert world.api.get(f"/v1/evidence/pairs/{pair_id}", key=stranger).status == 404
    assert world.api.get(f"/v1/evidence/pairs/{pair_id}", key=world.agent).status == 200  # the mission's creator
    world.mission = new_mission(world.api, world.admin, world.agent, name="Another mission")
    elsewhere = photo(world, "after", 30, pair_id=pair_id)
    assert elsewhere.status == 409 and elsewhere.error["code"] == "CONFLICT"


# --- verification after the privacy stage -----------------------------------------------------------


def submit_pair(world: World, before: bytes, after: bytes) -> str:
    first = photo(world, "before", 0, data=before)
    assert first.status == 201, first.body
    assert world.upload(first.data, before).status == 200
    pair_id = str(first.data["evidence"]["pair_id"])
    second = photo(world, "after", 45, pair_id=pair_id, data=after)
    assert second.status == 201, second.body
    assert world.upload(second.data, after).status == 200
    return pair_id


def review_items(db: str) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT subject_type, source, details FROM review_items").fetchall()


def test_offline_the_pixel_comparison_verifies_and_its_score_decides(world: World, db: str) -> None:
    from chalicelib.domain.hyperlocal import verification_decision

    pair_id = submit_pair(world, leaky_jpeg(scene(1, litter=True)), leaky_jpeg(scene(1, litter=False)))
    drain_outbox()
    pair = world.api.get(f"/v1/evidence/pairs/{pair_id}", key=world.human).data
    assert pair["before"]["status"] == pair["after"]["status"] == "ready"
    verification = pair["verification"]
    assert verification["verifier"] == "pixel" and verification["error"] is None
    assert pair["status"] == verification_decision(verification["improvement"], verification["confidence"])
    assert (pair["status"] == "peer_review") == (len(review_items(db)) == 1)


def test_defect_9_offline_an_unchanged_scene_is_rejected_not_approved(world: World) -> None:
    """The same photo twice is confidently no improvement: the score, not the confidence, decides."""
    same = leaky_jpeg(scene(5, litter=True))
    pair_id = submit_pair(world, same, same)
    drain_outbox()
    pair = world.api.get(f"/v1/evidence/pairs/{pair_id}", key=world.human).data
    assert pair["verification"]["improvement"] < 0.10
    assert pair["verification"]["confidence"] >= 0.80
    assert pair["status"] == "rejected"


@pytest.fixture
def claude(monkeypatch: pytest.MonkeyPatch) -> Any:
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings

    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        reset_settings()
        bootstrap.reset()
        yield fake


@pytest.mark.parametrize(
    "case",
    [(0.30, 0.80, "approved"), (0.29, 0.95, "peer_review"), (0.09, 0.80, "rejected"), (0.90, 0.79, "peer_review")],
)
def test_defect_9_claude_vision_decides_by_the_improvement_score(
    world: World, db: str, claude: FakeAnthropic, case: tuple[float, float, str]
) -> None:
    improvement, confidence, status = case
    claude.enqueue(Success(assessment={"improvement": improvement, "confidence": confidence,
                                       "reasoning": "The litter on the pavement is gone."}))
    pair_id = submit_pair(world, leaky_jpeg(scene(2, litter=True)), leaky_jpeg(scene(2, litter=False)))
    drain_outbox()
    pair = world.api.get(f"/v1/evidence/pairs/{pair_id}", key=world.human).data
    assert pair["status"] == status
    assert pair["verification"]["verifier"] == "anthropic"
    assert (pair["verification"]["improvement"], pair["verification"]["confidence"]) == (improvement, confidence)
    queued = review_items(db)
    assert (status == "peer_review") == (len(queued) == 1)
    if queued:
        subject_type, source, details = queued[0]
        assert (subject_type, source, details["pair_id"]) == ("evidence", "pair_verification", pair_id)
        assert details["after_id"] == pair["after"]["id"]

    # Claude saw the processed photos, never the originals.
    [request] = claude.message_requests()
    sent = [base64.b64decode(b["source"]["data"]) for b in request.body["messages"][0]["content"]
            if b["type"] == "image"]
    stored = [(world.blobs / "processed" / f"{pair[side]['id']}.jpg").read_bytes() for side in ("before", "after")]
    assert sent == stored
    assert all(b"Jane Owner" not in s and b"SN-98765432" not in s for s in sent)


def test_when_claude_fails_the_pair_goes_to_peer_review_never_approved(
    world: World, db: str, claude: FakeAnthropic
) -> None:
    claude.enqueue(*[HttpError(529, retry_after=0)] * 3)
    pair_id = submit_pair(world, leaky_jpeg(scene(3, litter=True)), leaky_jpeg(scene(3, litter=False)))
    drain_outbox()
    pair = world.api.get(f"/v1/evidence/pairs/{pair_id}", key=world.human).data
    assert pair["status"] == "peer_review"
    assert pair["verification"]["improvement"] is None and "HTTP 529" in pair["verification"]["error"]
    assert [(t, s) for t, s, _ in review_items(db)] == [("evidence", "pair_verification")]


def test_verification_runs_once_however_often_it_is_delivered(world: World, db: str, claude: FakeAnthropic) -> None:
    from chalicelib.services import pair_verification
    from functions.privacy.handler import verifier

    claude.enqueue(Success(assessment={"improvement": 0.6, "confidence": 0.9, "reasoning": "Clean now."}))
    pair_id = submit_pair(world, leaky_jpeg(scene(4, litter=True)), leaky_jpeg(scene(4, litter=False)))
    drain_outbox()
    with psycopg.connect(db) as conn:
        topics = conn.execute("SELECT payload->>'task' FROM outbox ORDER BY id").fetchall()
    assert topics == [("process_photo",), ("process_photo",), ("verify_pair",)]
    assert pair_verification.verify_pair(bootstrap.unit_of_work(), bootstrap.blob_store(), UUID(pair_id),
                                        verifier()) == "duplicate"
    assert len(claude.message_requests()) == 1
    assert world.api.get(f"/v1/evidence/pairs/{pair_id}", key=world.human).data["status"] == "approved"
