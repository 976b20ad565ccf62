"""Spot checks keep the validators honest: Layer B re-evaluates the real content of peer decisions.

Regression of defect 4: the earlier system sent empty content to Layer B and wrote an invalid
enum value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.offline_classifier import OfflineClassifier
from chalicelib.domain.layer_b import Assessment, ClassifierInput, ClassifierResult
from tests.fakes.anthropic_server import FakeAnthropic
from tests.integration.peer_support import (
    GOOD,
    PeerWorld,
    rows,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.support import drain_outbox

HARMFUL = Assessment(aligned_domain="food_security", alignment_score=0.9, harm_risk=0.95, feasibility=0.5,
                     quality=0.5, reasoning="Scripted: the plan hides a scam.")


@dataclass
class Recorder:
    """The offline Layer B, recording every input; after ``turn()`` it answers with ``then``."""

    then: Assessment | None = None
    seen: list[ClassifierInput] = field(default_factory=list)
    turned: bool = False

    def turn(self) -> None:
        self.turned = True

    def classify(self, item: ClassifierInput) -> ClassifierResult:
        self.seen.append(item)
        result = OfflineClassifier().classify(item)
        if self.turned and self.then is not None:
            return ClassifierResult(self.then, "offline", result.model, result.usage, 0, 1, 0, None)
        return result


@pytest.fixture
def recorder(world: PeerWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    from chalicelib import bootstrap

    rec = Recorder(then=HARMFUL)

    def classifier() -> Recorder:
        return rec

    classifier.cache_clear = lambda: None  # type: ignore[attr-defined] # bootstrap.reset() clears it
    monkeypatch.setattr(bootstrap, "classifier", classifier)
    yield rec


def peer_decided(world: PeerWorld, decisions: list[str], body: dict[str, object] | None = None) -> str:
    world.add_validators(8)
    world.peer_traffic(100)
    assert world.set_flag("SPOT_CHECK_PCT", 100).status == 200
    sub_id = world.submit(body or GOOD)
    world.vote(sub_id, decisions, confidence=1.0)
    return sub_id


def scores(world: PeerWorld, sub_id: str) -> list[tuple[str, str, float]]:
    return rows(world.db, "SELECT e.truth_source, e.truth, v.f1_score FROM evaluations e"
                          " JOIN validators v ON v.agent_id = e.validator_id"
                          " WHERE e.submission_id = %s AND e.status = 'answered'", UUID(sub_id))


def test_defect_4_a_spot_check_sends_the_real_content_and_stores_a_valid_verdict(
    world: PeerWorld, recorder: Recorder
) -> None:
    """Defect 4: spot checks sent empty content to Layer B and wrote an invalid enum value."""
    sub_id = peer_decided(world, ["approve"] * 3)
    recorder.seen.clear()
    drain_outbox()  # consensus, then the spot check
    assert world.submission(sub_id)["decided_by"] == "peer"
    [checked] = recorder.seen
    stored = world.submission(sub_id)
    assert (checked.title, checked.body, checked.kind) == (stored["title"], stored["body"], stored["kind"])
    assert checked.body.strip() and checked.body == GOOD["body"]
    [(status, decision, agrees)] = rows(world.db, "SELECT status, layer_b_decision, agrees FROM spot_checks")
    assert (status, decision, agrees) == ("completed", "approved", True)
    assert world.submission(sub_id)["trail"][-1]["stage"] == "spot_check"


def test_peers_approving_what_layer_b_rejects_is_a_false_negative_queued_and_scored(
    world: PeerWorld, recorder: Recorder
) -> None:
    sub_id = peer_decided(world, ["approve"] * 3)
    recorder.turn()  # Layer B's second look finds harm
    drain_outbox()
    [(spot_id, disagreement, item_id)] = rows(world.db, "SELECT id::text, disagreement, review_item_id FROM"
                                                        " spot_checks")
    assert disagreement == "false_negative" and item_id is not None
    assert rows(world.db, "SELECT source, reason, status FROM review_items WHERE subject_id = %s",
                UUID(sub_id)) == [("spot_check", "false_negative", "pending")]
    # The spot check outranks Layer B at routing as ground truth: three approvals of harm score F1 0.
    assert scores(world, sub_id) == [("spot_check", "rejected", 0.0)] * 3

    settled = world.api.post(f"/v1/admin/spot-checks/{spot_id}/verdict", key=world.admin,
                             body={"verdict": "peer_correct", "notes": "the scam reading was wrong"})
    assert settled.status == 200 and settled.data["verdict"] == "peer_correct"
    assert scores(world, sub_id) == [("admin", "approved", 1.0)] * 3
    again = world.api.post(f"/v1/admin/spot-checks/{spot_id}/verdict", key=world.admin,
                           body={"verdict": "layer_b_correct"})
    assert again.status == 409
    assert rows(world.db, "SELECT status, resolution FROM review_items WHERE subject_id = %s", UUID(sub_id)) == [
        ("reviewed", "peer_correct")]


def test_an_admin_verdict_of_layer_b_correct_counts_against_the_validators(
    world: PeerWorld, recorder: Recorder
) -> None:
    sub_id = peer_decided(world, ["reject"] * 3)  # offline Layer B approved it at routing
    drain_outbox()
    [(spot_id, disagreement)] = rows(world.db, "SELECT id::text, disagreement FROM spot_checks")
    assert disagreement == "false_positive"
    verdict = world.api.post(f"/v1/admin/spot-checks/{spot_id}/verdict", key=world.admin,
                             body={"verdict": "layer_b_correct"})
    assert verdict.status == 200
    assert scores(world, sub_id) == [("admin", "approved", 0.0)] * 3
    stats = world.api.get("/v1/admin/spot-checks/stats?days=7", key=world.admin).data
    assert stats["completed"] == 1 and stats["disagreements"]["false_positive"] == 1
    assert stats["verdicts"] == {"peer_correct": 0, "layer_b_correct": 1} and stats["awaiting_verdict"] == 0
    listed = world.api.get("/v1/admin/spot-checks?disagreements=true", key=world.admin).data
    assert [s["id"] for s in listed] == [spot_id]


def test_verdicts_need_a_known_completed_spot_check(world: PeerWorld, recorder: Recorder) -> None:
    unknown = world.api.post("/v1/admin/spot-checks/00000000-0000-4000-8000-000000000000/verdict",
                             key=world.admin, body={"verdict": "peer_correct"})
    assert unknown.status == 404
    peer_decided(world, ["approve"] * 3)
    from chalicelib.services.outbox_relay import relay
    from local.dispatcher import LocalSender
    from local.handlers import local_handlers

    relay(bootstrap.unit_of_work(), LocalSender(local_handlers()))  # consensus only: the spot check is still waiting
    [(spot_id, status)] = rows(world.db, "SELECT id::text, status FROM spot_checks")
    assert status == "pending"
    waiting = world.api.post(f"/v1/admin/spot-checks/{spot_id}/verdict", key=world.admin,
                             body={"verdict": "peer_correct"})
    assert waiting.status == 409
    bad = world.api.post(f"/v1/admin/spot-checks/{spot_id}/verdict", key=world.admin, body={"verdict": "maybe"})
    assert bad.status == 400


def test_waiting_spot_checks_go_to_layer_b_as_one_message_batch(
    world: PeerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings
    from chalicelib.services.spot_checks import poll_batches

    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        reset_settings()
        bootstrap.reset()
        world.add_validators(8)
        world.peer_traffic(100)
        assert world.set_flag("SPOT_CHECK_PCT", 100).status == 200
        bodies = [{**GOOD, "title": f"{GOOD['title']} #{i}"} for i in range(3)]
        sub_ids = [world.submit(body, key=world.api.register(f"author-{i}")[0]) for i, body in enumerate(bodies)]
        for sub_id in sub_ids:
            world.vote(sub_id, ["approve"] * 3)
        drain_outbox()  # three consensus decisions, then three spot checks waiting together
        assert rows(world.db, "SELECT status, count(*) FROM spot_checks GROUP BY status") == [("batched", 3)]
        [create] = [r for r in fake.requests if r.path == "/v1/messages/batches" and r.method == "POST"]
        sent = [r["params"]["messages"][0]["content"] for r in create.body["requests"]]
        assert all(any(b["title"] in text and b["body"] in text for text in sent) for b in bodies)

        first = poll_batches(bootstrap.unit_of_work(), bootstrap.classifier())
        second = poll_batches(bootstrap.unit_of_work(), bootstrap.classifier())
    assert first["still_processing"] + second["still_processing"] >= 1
    assert first["collected"] + second["collected"] == 1
    assert rows(world.db, "SELECT status, layer_b_decision, count(*) FROM spot_checks GROUP BY 1, 2") == [
        ("completed", "approved", 3)]
    assert rows(world.db, "SELECT status, items FROM layer_b_batches") == [("ended", 3)]
