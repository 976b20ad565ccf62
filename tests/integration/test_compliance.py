"""The agent compliance score from real records: Layer A blocks, content flags and admin overturns over
30 days; below 60 the agent loses the peer path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from chalicelib import bootstrap
from tests.support import Api, admin_key, api_client, drain_outbox

GOOD = {
    "kind": "problem",
    "title": "Community garden needs water access",
    "body": "Our neighbourhood food garden has no tap; volunteers carry water 400 m. "
            "A rain tank and a shared hose line would help food security for 60 families.",
    "domain": "food_security",
}
BLOCKED = {
    "kind": "solution",
    "title": "Neighbourhood safety",
    "body": "Install hidden cameras for covert surveillance of every resident and sell guns at the gate.",
}


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def verified(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("TRUST_VERIFIED_MIN_AGE_DAYS", "0")
    monkeypatch.setenv("TRUST_VERIFIED_MIN_APPROVALS", "0")
    reset_settings()


def block(api: Api, key: str, times: int) -> None:
    for n in range(times):
        answer = api.post("/v1/submissions", key=key, body={**BLOCKED, "title": f"Neighbourhood safety {n}"})
        assert answer.status == 422


def classify_with(monkeypatch: pytest.MonkeyPatch, alignment: float) -> None:
    """Layer B answers every submission with this alignment score (a scripted classifier)."""
    import functools

    from chalicelib import bootstrap
    from chalicelib.domain.layer_b import ZERO_USAGE, Assessment, ClassifierInput, ClassifierResult

    class Scripted:
        model = "scripted"

        def classify(self, item: ClassifierInput) -> ClassifierResult:
            assessment = Assessment(aligned_domain="food_security", alignment_score=alignment, harm_risk=0.05,
                                    feasibility=0.6, quality=0.6, reasoning="Scripted.")
            return ClassifierResult(assessment=assessment, classifier="anthropic", model="claude-haiku-4-5",
                                    usage=ZERO_USAGE, cost_usd_micros=0, attempts=1, latency_ms=1, error=None)

    monkeypatch.setattr(bootstrap, "classifier", functools.lru_cache(maxsize=1)(Scripted))


def submit(api: Api, key: str, n: int) -> dict[str, Any]:
    sub_id = api.post("/v1/submissions", key=key, body={**GOOD, "title": f"{GOOD['title']} {n}"}).data["id"]
    drain_outbox()
    detail = api.get(f"/v1/submissions/{sub_id}", key=key).data
    assert isinstance(detail, dict)
    return detail


def test_a_new_agent_starts_at_100_and_reads_its_own_score(api: Api) -> None:
    key, agent = api.register("fresh")
    mine = api.get("/v1/agents/me/compliance", key=key)
    assert mine.status == 200
    assert mine.data == {**mine.data, "agent_id": agent["id"], "score": 100, "compliant": True, "threshold": 60,
                         "window_days": 30}
    assert mine.data["counts"] == {"layer_a_blocks": 0, "admin_overturns": 0, "flags": 0}
    assert mine.data["weights"] == {"layer_a_blocks": 10, "admin_overturns": 3, "flags": 1}


def test_each_layer_a_block_costs_ten_points_and_four_more_end_the_peer_path(api: Api) -> None:
    key, agent = api.register("reckless")
    block(api, key, 3)
    assert api.get("/v1/agents/me/compliance", key=key).data["score"] == 70
    block(api, key, 1)
    at_sixty = api.get(f"/v1/admin/agents/{agent['id']}/compliance", key=admin_key()).data
    assert (at_sixty["score"], at_sixty["compliant"]) == (60, True)
    block(api, key, 1)
    below = api.get("/v1/agents/me/compliance", key=key).data
    assert (below["score"], below["compliant"], below["counts"]["layer_a_blocks"]) == (50, False, 5)


def test_content_flags_count_but_flags_for_being_new_do_not(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _ = api.register("learner")
    classify_with(monkeypatch, 0.9)  # good content: flagged only because the agent is new
    assert submit(api, key, 1)["status"] == "flagged"
    assert api.get("/v1/agents/me/compliance", key=key).data["counts"]["flags"] == 0

    classify_with(monkeypatch, 0.5)  # borderline content: flagged for itself
    assert submit(api, key, 2)["status"] == "flagged"
    report = api.get("/v1/agents/me/compliance", key=key).data
    assert (report["counts"]["flags"], report["score"]) == (1, 99)


def test_only_the_last_30_days_count(api: Api) -> None:
    from chalicelib.services import compliance

    key, agent = api.register("reformed")
    block(api, key, 2)
    agent_id = UUID(agent["id"])
    with bootstrap.unit_of_work() as uow:
        assert compliance.report(uow, agent_id).score == 80
        later = datetime.now(UTC) + timedelta(days=30, minutes=1)
        assert compliance.report(uow, agent_id, later).score == 100
        assert compliance.compliance_ok(uow, agent_id, later)


def test_a_non_compliant_verified_agent_is_kept_off_the_peer_path(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters import flags_repo
    from chalicelib.db.pool import transaction

    verified(monkeypatch)
    with transaction() as conn:
        flags_repo.set_flag(conn, "PEER_VALIDATION_ENABLED", True, actor="test", reason="test")
        flags_repo.set_flag(conn, "PEER_VALIDATION_TRAFFIC_PCT", 100, actor="test", reason="test")
    careless_key, _ = api.register("careless")
    careful_key, _ = api.register("careful")
    block(api, careless_key, 5)

    def routing_reason(key: str) -> str:
        detail = submit(api, key, 1)
        reason = next(t["verdict"]["reason"] for t in detail["trail"] if t["stage"] == "routing")
        assert isinstance(reason, str)
        return reason

    assert routing_reason(careless_key) == "agent_compliance"
    assert routing_reason(careful_key) != "agent_compliance"


def test_other_agents_scores_are_for_admins_only(api: Api) -> None:
    _, agent = api.register("private")
    other_key, _ = api.register("neighbour")
    assert api.get(f"/v1/admin/agents/{agent['id']}/compliance", key=other_key).status == 403
    assert api.get(f"/v1/admin/agents/{uuid4()}/compliance", key=admin_key()).status == 404
    assert api.get("/v1/agents/me/compliance").status == 401


def test_the_one_statement_reading_equals_the_three_separate_ones(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stages score an agent with one statement; it must count exactly what the three readings count."""
    from chalicelib.adapters import compliance_repo
    from chalicelib.db.pool import transaction

    key, agent = api.register("mixed")
    block(api, key, 2)
    classify_with(monkeypatch, 0.5)
    submit(api, key, 1)
    submit(api, key, 2)
    agent_id = UUID(agent["id"])
    now = datetime.now(UTC)
    with transaction() as conn:
        for since in (now - timedelta(days=30), now - timedelta(seconds=1), now):
            separate = (compliance_repo.layer_a_blocks(conn, agent_id, since=since, until=now),
                        compliance_repo.admin_overturns_against(conn, agent_id, since=since, until=now),
                        compliance_repo.flagged_layer_b_verdicts(conn, agent_id, since=since, until=now))
            assert compliance_repo.evidence(conn, agent_id, since=since, until=now) == separate
        blocks, _, flagged = compliance_repo.evidence(conn, agent_id, since=now - timedelta(days=30), until=now)
        assert (blocks, len(flagged)) == (2, 2)


def test_scoring_many_agents_at_once_agrees_with_scoring_each(api: Api) -> None:
    """Assignment scores all its picks in one statement: the same verdicts as one agent at a time."""
    from chalicelib.adapters import compliance_repo
    from chalicelib.db.pool import transaction
    from chalicelib.services.compliance import compliance_ok, compliant_agents

    key, reckless = api.register("reckless")
    block(api, key, 5)  # score 50: not compliant
    key2, careful = api.register("careful")
    block(api, key2, 1)  # score 90
    ids = [UUID(reckless["id"]), UUID(careful["id"]), uuid4()]  # and one agent with no history at all
    now = datetime.now(UTC)
    with transaction() as conn:
        many = compliance_repo.evidence_many(conn, ids, since=now - timedelta(days=30), until=now)
        assert many == {i: compliance_repo.evidence(conn, i, since=now - timedelta(days=30), until=now) for i in ids}
    with bootstrap.unit_of_work() as uow:
        together = compliant_agents(uow, ids, now)
        assert together == {i: compliance_ok(uow, i, now) for i in ids}
    assert together == {ids[0]: False, ids[1]: True, ids[2]: True}
