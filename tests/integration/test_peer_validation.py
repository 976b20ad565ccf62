"""Peer validation stories: the pool, assignment, evaluations, consensus, quorum timeouts, shadow mode.

Regressions of the earlier system's defects are named in the tests: 1 (Layer B never reached
consensus scoring), 3 (peer-routed content pending forever), 11 (keyset paging by a random id),
13 (a 2-of-3 majority escalated), 14 (same-owner conflicts never excluded).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from chalicelib import bootstrap
from tests.integration.peer_support import (
    GOOD,
    OFF_TOPIC,
    PeerWorld,
    Validator,
    execute,
    rows,
    stage,
    trail_stages,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.support import drain_outbox


def evaluation_statuses(db: str, sub_id: str) -> list[str]:
    return sorted(r[0] for r in rows(db, "SELECT status FROM evaluations WHERE submission_id = %s", UUID(sub_id)))


# --- the pool ---------------------------------------------------------------------------------


def test_backfill_adds_active_verified_agents_as_apprentices_once(world: PeerWorld) -> None:
    world.api.register("a-human", kind="human")
    for i in range(3):
        world.api.register(f"agent-{i}")
    first = world.api.post("/v1/admin/validators/backfill", key=world.admin)
    assert first.status == 200
    assert first.data["added"] == 4  # three agents and the submitter; never the human
    again = world.api.post("/v1/admin/validators/backfill", key=world.admin)
    assert again.data["added"] == 0 and again.data["pool_size"] == 4
    assert rows(world.db, "SELECT DISTINCT tier FROM validators") == [("apprentice",)]


def test_backfill_leaves_out_agents_that_are_not_verified_yet(
    world: PeerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("TRUST_VERIFIED_MIN_AGE_DAYS", "8")
    reset_settings()
    world.api.register("newcomer")
    assert world.api.post("/v1/admin/validators/backfill", key=world.admin).data["added"] == 0


def test_validator_sets_up_to_three_home_regions_and_reads_its_stats(world: PeerWorld) -> None:
    [v] = world.add_validators(1)
    regions = [{"latitude": 52.52, "longitude": 13.405, "label": "Berlin"},
               {"latitude": -33.87, "longitude": 151.21}, {"latitude": 0, "longitude": 0}]
    assert world.api.put("/v1/validator/regions", key=v.key, body={"regions": regions}).status == 200
    too_many = world.api.put("/v1/validator/regions", key=v.key, body={"regions": [*regions, regions[0]]})
    assert too_many.status == 400
    off_planet = world.api.put("/v1/validator/regions", key=v.key,
                               body={"regions": [{"latitude": 91, "longitude": 0}]})
    assert off_planet.status == 400
    stats = world.api.get("/v1/validator/stats", key=v.key).data
    assert stats["tier"] == "apprentice" and stats["daily_quota"] == 10 and stats["quota_left"] == 10
    assert [r["label"] for r in stats["home_regions"]] == ["Berlin", "", ""]
    outsider_key, _ = world.api.register("outsider")
    assert world.api.get("/v1/validator/stats", key=outsider_key).status == 404
    assert world.api.put("/v1/validator/regions", key=outsider_key, body={"regions": []}).status == 404


def test_defect_11_pool_listing_pages_every_member_once_despite_equal_join_times(world: PeerWorld) -> None:
    """Defect 11: keyset pagination ordered by time but paged by a random UUID lost or repeated rows.

    Backfill gives every member the same joined_at; paging must still see each exactly once."""
    world.add_validators(7)
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        page = world.api.get(f"/v1/admin/validators?limit=3{cursor}", key=world.admin)
        assert page.status == 200
        seen += [r["agent_id"] for r in page.data]
        if page.body["meta"]["next_cursor"] is None:
            break
        cursor = f"&cursor={page.body['meta']['next_cursor']}"
    assert len(rows(world.db, "SELECT DISTINCT joined_at FROM validators")) == 1
    assert sorted(seen) == sorted({*seen}) and len(seen) == 8


def test_forged_cursors_and_naive_times_are_validation_errors(world: PeerWorld) -> None:
    import base64

    [v] = world.add_validators(1)
    forged = base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", "not-a-uuid"]).encode())
    cursor = forged.decode().rstrip("=")
    for path, key in (("/v1/evaluations/pending", v.key), ("/v1/admin/validators", world.admin),
                      ("/v1/admin/spot-checks", world.admin)):
        answer = world.api.get(f"{path}?cursor={cursor}", key=key)
        assert answer.status == 400 and answer.error["code"] == "VALIDATION_ERROR", path
    naive = world.api.put(f"/v1/admin/validators/{v.id}/suspension", key=world.admin,
                          body={"suspended": True, "reason": "spam", "until": "2099-01-01T00:00:00"})
    assert naive.status == 400
    suspended = world.api.put(f"/v1/admin/validators/{v.id}/suspension", key=world.admin,
                              body={"suspended": True, "reason": "spam", "until": "2099-01-01T00:00:00Z"})
    assert suspended.status == 200 and suspended.data["suspended"] is True
    assert world.api.put(f"/v1/admin/validators/{v.id}/suspension", key=world.admin,
                         body={"suspended": True}).status == 400  # a suspension needs a reason


# --- assignment ---------------------------------------------------------------------------------


def test_defect_14_peer_routed_submission_gets_six_validators_never_the_submitter_nor_same_owner(
    world: PeerWorld,
) -> None:
    """Defect 14: same-owner conflicts of interest were never excluded."""
    sibling_key, sibling = world.api.register("sibling", key=world.submitter_key)  # same owner
    world.add_validators(7)
    world.peer_traffic(100)
    sub_id = world.submit()
    detail = world.submission(sub_id)
    assert detail["status"] == "pending" and detail["route_path"] == "peer"
    assigned = rows(world.db, "SELECT validator_id::text FROM evaluations WHERE submission_id = %s", UUID(sub_id))
    assigned_ids = {r[0] for r in assigned}
    assert len(assigned_ids) == 6
    assert world.submitter_id not in assigned_ids and sibling["id"] not in assigned_ids
    assert trail_stages(detail) == ["layer_a", "layer_b", "routing", "assignment"]
    # What a validator sees: the content, not who wrote it.
    some = world.by_id(next(iter(assigned_ids)))
    [pending] = world.pending(some)
    assert pending["submission"]["body"] == GOOD["body"] and "agent_id" not in pending["submission"]
    assert world.api.get("/v1/evaluations/pending", key=sibling_key).data == []


def test_redelivered_guardrail_message_never_assigns_twice(world: PeerWorld) -> None:
    from chalicelib.db.pool import transaction
    from chalicelib.services.assignment import assign_validators

    world.add_validators(8)
    world.peer_traffic(100)
    created = world.api.post("/v1/submissions", key=world.submitter_key, body=GOOD)
    sub_id = created.data["id"]
    [(message_id, payload)] = rows(world.db, "SELECT id, payload FROM outbox WHERE topic = 'guardrail'")
    drain_outbox()
    before = rows(world.db, "SELECT id FROM evaluations ORDER BY id")
    # The same message again (SQS redelivers at least once), and once more under another key.
    execute(world.db, "UPDATE outbox SET sent_at = NULL, available_at = now() WHERE id = %s", message_id)
    drain_outbox()
    execute(world.db, "INSERT INTO outbox (topic, payload) VALUES ('guardrail', %s)", json.dumps(payload))
    drain_outbox()
    with transaction() as conn:
        sub = conn.execute("SELECT * FROM submissions WHERE id = %s", (UUID(sub_id),)).fetchone()
        assert sub is not None
    with bootstrap.unit_of_work() as uow:
        again = assign_validators(uow, sub, mode="live", layer_b_decision="approved", layer_b_valid=True,
                                  now=datetime.now(UTC))
    assert again.repeated and len(again.evaluation_ids) == 6
    assert rows(world.db, "SELECT id FROM evaluations ORDER BY id") == before
    assert rows(world.db, "SELECT sum(evaluations_today) FROM validators") == [(6,)]


def test_validators_of_the_submitters_last_submissions_sit_the_next_one_out(world: PeerWorld) -> None:
    world.add_validators(13)
    world.peer_traffic(100)
    first = world.submit()
    second = world.submit()
    def reviewers(sub_id: str) -> set[str]:
        return {r[0] for r in rows(world.db, "SELECT validator_id::text FROM evaluations WHERE submission_id = %s",
                                   UUID(sub_id))}
    assert len(reviewers(first)) == 6 and len(reviewers(second)) == 6
    assert reviewers(first).isdisjoint(reviewers(second))


def test_validators_near_the_submission_are_preferred_and_a_senior_is_included(world: PeerWorld) -> None:
    validators = world.add_validators(12)
    nearby = validators[:3]
    for v in nearby:  # about 10 km from the submission
        world.api.put("/v1/validator/regions", key=v.key, body={"regions": [{"latitude": 48.95, "longitude": 2.35}]})
    senior = validators[-1]
    execute(world.db, "UPDATE validators SET tier = 'journeyman' WHERE agent_id = %s", UUID(senior.id))
    world.peer_traffic(100)
    sub_id = world.submit({**GOOD, "location": {"latitude": 48.8566, "longitude": 2.3522}})
    assigned = {r[0] for r in rows(world.db, "SELECT validator_id::text FROM evaluations WHERE submission_id = %s",
                                   UUID(sub_id))}
    assert {v.id for v in nearby} <= assigned
    assert senior.id in assigned
    assert stage(world.submission(sub_id), "assignment")["nearby"] == 3


def test_a_validator_below_the_compliance_threshold_loses_validator_duty(world: PeerWorld) -> None:
    validators = world.add_validators(6)
    offender = validators[0]
    for _ in range(5):  # five Layer A blocks in 30 days: score 50 < 60
        execute(world.db, "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status,"
                          " decided_by, decided_at) VALUES (gen_random_uuid(), %s, 'problem', 't', 'b', 'h',"
                          " 'rejected', 'layer_a', now() - interval '1 hour')", UUID(offender.id))
    world.peer_traffic(100)
    sub_id = world.submit()
    assigned = {r[0] for r in rows(world.db, "SELECT validator_id::text FROM evaluations WHERE submission_id = %s",
                                   UUID(sub_id))}
    assert len(assigned) == 5 and offender.id not in assigned


def test_daily_quota_caps_assignments_and_the_daily_reset_frees_it(
    world: PeerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings
    from chalicelib.services.validators import reset_quotas

    monkeypatch.setenv("VALIDATOR_DAILY_QUOTA", "1")
    reset_settings()
    world.add_validators(6)
    world.peer_traffic(100)
    first = world.submit()
    other_key, _ = world.api.register("other-submitter")
    second = world.submit(key=other_key)
    assert world.submission(first)["status"] == "pending"
    assert world.submission(second)["decided_by"] == "fallback"  # everybody used today's quota
    assert reset_quotas(bootstrap.unit_of_work(), now=datetime.now(UTC) + timedelta(days=1)) == 6


# --- answering and consensus --------------------------------------------------------------------


def test_the_quorum_completing_answer_queues_one_consensus_and_peers_decide(world: PeerWorld) -> None:
    world.add_validators(8)
    world.peer_traffic(100)
    sub_id = world.submit(OFF_TOPIC)  # Layer B would reject it: the peers' approval must be what counts
    answers = world.vote(sub_id, ["approve", "approve", "approve"])
    assert [a.status for a in answers] == [200, 200, 200]
    assert [a.data["quorum_reached"] for a in answers] == [False, False, True]
    assert rows(world.db, "SELECT count(*) FROM outbox WHERE topic = 'consensus'") == [(1,)]
    drain_outbox()
    detail = world.submission(sub_id)
    assert (detail["status"], detail["decided_by"], detail["route_path"]) == ("approved", "peer", "peer")
    assert evaluation_statuses(world.db, sub_id) == ["answered"] * 3 + ["cancelled"] * 3
    assert stage(detail, "consensus")["approve_share"] == "1/1"
    # A late validator finds its evaluation closed: consensus was reached without it.
    assert world.assignments(sub_id) == []  # cancelled evaluations are no longer pending
    cancelled_id, validator_id = rows(
        world.db, "SELECT id::text, validator_id::text FROM evaluations WHERE status = 'cancelled' LIMIT 1")[0]
    gone = world.answer(world.by_id(validator_id), cancelled_id)
    assert gone.status == 410 and gone.error["details"]["status"] == "cancelled"


def test_defect_13_a_two_of_three_majority_decides_instead_of_escalating(world: PeerWorld) -> None:
    """Defect 13: with 0.67 and equal weights, 2 of 3 (0.6667) escalated: unanimity was required."""
    world.add_validators(8)
    world.peer_traffic(100)
    sub_id = world.submit()
    world.vote(sub_id, ["reject", "reject", "approve"], confidence=1.0)
    drain_outbox()
    detail = world.submission(sub_id)
    assert (detail["status"], detail["decided_by"]) == ("rejected", "peer")
    assert stage(detail, "consensus")["reject_share"] == "2/3"


def test_without_a_supermajority_the_stored_layer_b_decision_applies(world: PeerWorld) -> None:
    world.add_validators(8)
    world.peer_traffic(100)
    sub_id = world.submit()  # offline Layer B approves it
    world.vote(sub_id, ["approve", "reject", "flag"])
    drain_outbox()
    detail = world.submission(sub_id)
    assert (detail["status"], detail["decided_by"]) == ("approved", "fallback")
    assert stage(detail, "consensus")["reason"] == "no_supermajority"


def test_a_safety_flag_escalates_even_a_unanimous_approval(world: PeerWorld) -> None:
    world.add_validators(8)
    world.peer_traffic(100)
    sub_id = world.submit(OFF_TOPIC)  # Layer B rejects it
    assigned = world.assignments(sub_id)
    for i, (v, eid) in enumerate(assigned[:3]):
        world.answer(v, eid, "approve", safety_flagged=i == 0)
    drain_outbox()
    detail = world.submission(sub_id)
    assert (detail["status"], detail["decided_by"]) == ("rejected", "fallback")
    assert rows(world.db, "SELECT source, reason FROM review_items WHERE subject_id = %s", UUID(sub_id)) == [
        ("consensus", "safety_flag")]


def test_a_duplicate_consensus_message_changes_nothing(world: PeerWorld) -> None:
    from chalicelib.services.consensus import run_consensus

    world.add_validators(8)
    world.peer_traffic(100)
    sub_id = world.submit()
    world.vote(sub_id, ["approve"] * 3)
    [(message_id,)] = rows(world.db, "SELECT id FROM outbox WHERE topic = 'consensus'")
    drain_outbox()
    snapshot = (
        rows(world.db, "SELECT * FROM consensus_decisions"),
        rows(world.db, "SELECT id, status, truth, reward_millicredits FROM evaluations ORDER BY id"),
        rows(world.db, "SELECT count(*) FROM journal_entries"),
        rows(world.db, "SELECT count(*) FROM decision_trail"),
        rows(world.db, "SELECT agent_id, f1_score, scored_evaluations FROM validators ORDER BY agent_id"),
    )
    execute(world.db, "UPDATE outbox SET sent_at = NULL, available_at = now() WHERE id = %s", message_id)
    drain_outbox()  # the same message redelivered
    assert run_consensus(bootstrap.unit_of_work(), UUID(sub_id),
                         "another-key") == "already_decided"  # or a second message
    assert (
        rows(world.db, "SELECT * FROM consensus_decisions"),
        rows(world.db, "SELECT id, status, truth, reward_millicredits FROM evaluations ORDER BY id"),
        rows(world.db, "SELECT count(*) FROM journal_entries"),
        rows(world.db, "SELECT count(*) FROM decision_trail"),
        rows(world.db, "SELECT agent_id, f1_score, scored_evaluations FROM validators ORDER BY agent_id"),
    ) == snapshot


def test_evaluation_endpoint_answers_404_403_409_410_and_400(world: PeerWorld) -> None:
    world.add_validators(8)
    world.peer_traffic(100)
    sub_id = world.submit()
    (first, first_id), (second, second_id), (_, third_id) = world.assignments(sub_id)[:3]

    assert world.answer(first, "00000000-0000-4000-8000-000000000000").status == 404
    not_yours = world.answer(second, first_id)
    assert not_yours.status == 403 and not_yours.error["code"] == "FORBIDDEN"
    invalid_bodies = [
        {"decision": "maybe", "confidence": 0.5, "reasoning": "x"},
        {"decision": "approve", "confidence": 1.5, "reasoning": "x"},
        {"decision": "approve", "confidence": "0.5", "reasoning": "x"},
        {"decision": "approve", "confidence": 0.5},
        {"decision": "approve", "confidence": 0.5, "reasoning": "x", "vote_twice": True},
        {"decision": "approve", "confidence": 0.5, "reasoning": "bad\x00text"},
    ]
    for body in invalid_bodies:
        answer = world.api.post(f"/v1/evaluations/{first_id}", key=first.key, body=body)
        assert answer.status == 400 and answer.error["code"] == "VALIDATION_ERROR", body
    assert world.answer(first, first_id).status == 200
    again = world.answer(first, first_id, "reject")
    assert again.status == 409 and again.error["code"] == "CONFLICT"
    execute(world.db, "UPDATE evaluations SET expires_at = now() - interval '1 second' WHERE id = %s",
            UUID(second_id))
    expired = world.answer(second, second_id)
    assert expired.status == 410 and expired.error["code"] == "GONE"
    # Own submission: never assigned by the rule, refused even if a row says otherwise.
    execute(world.db, "UPDATE evaluations SET validator_id = %s WHERE id = %s", UUID(world.submitter_id),
            UUID(third_id))
    own = world.api.post(f"/v1/evaluations/{third_id}", key=world.submitter_key,
                         body={"decision": "approve", "confidence": 1, "reasoning": "mine"})
    assert own.status == 403
    assert rows(world.db, "SELECT decision FROM evaluations WHERE status = 'answered'") == [("approve",)]


# --- nothing stays pending (defect 3) ------------------------------------------------------------


def test_defect_3_quorum_timeout_falls_back_to_the_stored_layer_b_decision(world: PeerWorld) -> None:
    """Defect 3: peer-routed content stayed pending forever on quorum timeout."""
    from chalicelib.services.consensus import resolve_timeouts

    world.add_validators(8)
    world.peer_traffic(100)
    sub_id = world.submit(OFF_TOPIC)
    world.vote(sub_id, ["approve"])
    assert resolve_timeouts(bootstrap.unit_of_work(), now=datetime.now(UTC) + timedelta(minutes=29))["resolved"] == 0
    assert world.submission(sub_id)["status"] == "pending"
    # The schedule runs every minute: within expiry + 2 minutes the submission is terminal.
    outcome = resolve_timeouts(bootstrap.unit_of_work(), now=datetime.now(UTC) + timedelta(minutes=31))
    assert outcome["resolved"] == 1 and outcome["expired"] == 5
    detail = world.submission(sub_id)
    assert (detail["status"], detail["decided_by"]) == ("rejected", "fallback")
    assert stage(detail, "consensus")["cause"] == "timeout"
    assert evaluation_statuses(world.db, sub_id) == ["answered"] + ["expired"] * 5
    assert rows(world.db, "SELECT count(*) FROM submissions WHERE status = 'pending'") == [(0,)]
    assert resolve_timeouts(bootstrap.unit_of_work(), now=datetime.now(UTC) + timedelta(minutes=32))["resolved"] == 0


def test_defect_3_fewer_than_three_eligible_validators_means_layer_b_decides_at_once(world: PeerWorld) -> None:
    """Defect 3: with too few validators peer-routed content waited for a quorum that could not form."""
    world.api.register("sibling", key=world.submitter_key)  # same owner: excluded
    world.add_validators(2)
    world.peer_traffic(100)
    sub_id = world.submit()
    detail = world.submission(sub_id)
    assert (detail["status"], detail["decided_by"], detail["route_path"]) == ("approved", "fallback", "peer")
    assert trail_stages(detail)[-1] == "assignment"
    assert stage(detail, "assignment")["reason"] == "insufficient_validators"
    assert rows(world.db, "SELECT count(*) FROM evaluations") == [(0,)]
    assert rows(world.db, "SELECT count(*) FROM validators WHERE evaluations_today > 0") == [(0,)]


def test_an_assignment_error_is_contained_and_layer_b_decides(
    world: PeerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import evaluations

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("pool unavailable")

    world.add_validators(8)
    world.peer_traffic(100)
    monkeypatch.setattr(evaluations, "assign_validators", broken)
    sub_id = world.submit()
    detail = world.submission(sub_id)
    assert (detail["status"], detail["decided_by"]) == ("approved", "fallback")
    assert stage(detail, "assignment")["error"] == "assignment_failed"


# --- shadow mode (defect 1) ----------------------------------------------------------------------


def test_defect_1_shadow_mode_layer_b_decides_peers_are_compared_and_scored(world: PeerWorld) -> None:
    """Defect 1: Layer B's decision never reached consensus, so F1, tiers and shadow stats never moved."""
    world.add_validators(13)  # the second submission's reviewers exclude the first one's six
    assert world.set_flag("PEER_VALIDATION_ENABLED", True).status == 200  # traffic stays 0 %: shadow
    good = world.submit()
    bad = world.submit(OFF_TOPIC)
    assert (world.submission(good)["status"], world.submission(good)["decided_by"]) == ("approved", "layer_b")
    assert world.submission(bad)["status"] == "rejected"
    assert rows(world.db, "SELECT DISTINCT mode FROM evaluations") == [("shadow",)]
    world.vote(good, ["approve", "approve", "approve"])
    world.vote(bad, ["approve", "approve", "reject"], confidence=1.0)
    drain_outbox()
    assert world.submission(good)["decided_by"] == "layer_b"  # peers never change a shadow submission
    assert world.submission(bad)["status"] == "rejected"
    assert sorted(rows(world.db, "SELECT consensus_outcome, layer_b_decision, agrees FROM shadow_comparisons")) == [
        ("approved", "approved", True), ("approved", "rejected", False)]
    scored = rows(world.db, "SELECT count(*) FROM evaluations WHERE truth_source = 'layer_b'")
    assert scored == [(6,)]
    assert rows(world.db, "SELECT count(*) FROM validators WHERE scored_evaluations > 0") != [(0,)]
    report = world.api.get("/v1/admin/shadow", key=world.admin).data
    assert (report["comparisons"], report["agreements"]) == (2, 1)


def test_rewards_are_paid_once_per_timely_evaluation_through_the_ledger(world: PeerWorld) -> None:
    world.add_validators(8)
    world.peer_traffic(100)
    assert world.set_flag("VALIDATION_REWARDS_ENABLED", True).status == 200
    sub_id = world.submit()
    world.vote(sub_id, ["approve"] * 3)
    drain_outbox()
    answered = rows(world.db, "SELECT id::text FROM evaluations WHERE status = 'answered'")
    keys = {r[0] for r in rows(world.db, "SELECT idempotency_key FROM journal_entries WHERE idempotency_key"
                                         " LIKE 'validation:%%'")}
    assert {f"validation:{r[0]}" for r in answered} <= keys
    assert not any(k.endswith(r[0]) for k in keys for r in rows(
        world.db, "SELECT id::text FROM evaluations WHERE status = 'cancelled'"))


def test_tier_promotion_is_earned_from_scored_evaluations_and_logged(world: PeerWorld) -> None:
    from chalicelib.db.pool import transaction
    from chalicelib.services.consensus import rescore

    [v] = world.add_validators(1)
    fixture_agent = world.submitter_id
    with transaction() as conn:
        for i in range(50):
            sub = conn.execute(
                "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by,"
                " decided_at) VALUES (gen_random_uuid(), %s, 'problem', 't', 'b', 'h', 'approved', 'peer', now())"
                " RETURNING id", (UUID(fixture_agent),)).fetchone()
            assert sub is not None
            conn.execute(
                "INSERT INTO consensus_decisions (submission_id, mode, layer_b_decision, layer_b_valid, assigned,"
                " opened_at, expires_at) VALUES (%s, 'live', 'approved', true, 3, now(), now())", (sub["id"],))
            truth = "rejected" if i % 5 == 0 else "approved"
            decision = "reject" if truth == "rejected" else "approve"
            conn.execute(
                "INSERT INTO evaluations (submission_id, validator_id, mode, tier_at_assignment, status,"
                " assigned_at, expires_at, decision, confidence, safety_flagged, responded_at, closed_at, truth,"
                " truth_source, scored_at) VALUES (%s, %s, 'live', 'apprentice', 'answered', now(), now(), %s,"
                " 1, false, now(), now(), %s, 'layer_b', now() + make_interval(secs => %s))",
                (sub["id"], UUID(v.id), decision, truth, i))
    with bootstrap.unit_of_work() as uow:
        change = rescore(uow, UUID(v.id), now=datetime.now(UTC) + timedelta(minutes=5))
    assert change is not None and (change["old"], change["new"]) == ("apprentice", "journeyman")
    stats = world.api.get("/v1/validator/stats", key=v.key).data
    assert stats["tier"] == "journeyman" and stats["f1"] == 1.0 and stats["scored_evaluations"] == 50
    assert [(h["old_tier"], h["new_tier"]) for h in stats["tier_history"]] == [("apprentice", "journeyman")]


def test_answers_racing_on_one_submission_complete_the_quorum_exactly_once(world: PeerWorld) -> None:
    import threading
    from uuid import uuid4

    from chalicelib.domain.principal import Principal
    from chalicelib.services.evaluations import EvaluationAnswer, answer_evaluation

    # Given a peer-routed submission and every assigned validator answering at the same moment
    world.add_validators(6)
    world.peer_traffic(100)
    sub_id = world.submit()
    assigned = world.assignments(sub_id)
    assert len(assigned) > 3
    barrier = threading.Barrier(len(assigned))
    results: list[object] = []

    def answer(validator: Validator, evaluation_id: str) -> None:
        principal = Principal(key_id=uuid4(), role="agent", agent_id=UUID(validator.id), owner_id=None,
                              agent_kind="agent")
        barrier.wait()
        try:
            results.append(answer_evaluation(bootstrap.unit_of_work(), principal, UUID(evaluation_id),
                                             EvaluationAnswer(decision="approve", confidence=0.9, reasoning="ok")))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=answer, args=pair) for pair in assigned]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Then every answer is recorded, exactly one of them saw the quorum complete and one consensus is queued
    assert all(not isinstance(r, Exception) for r in results) and len(results) == len(assigned)
    assert sum(r.quorum_reached for r in results) == 1  # type: ignore[attr-defined]
    assert "answered" not in results[0].evaluation  # type: ignore[attr-defined]
    assert rows(world.db, "SELECT count(*) FROM outbox WHERE topic = 'consensus' AND payload->>'submission_id' = %s",
                sub_id) == [(1,)]
    assert rows(world.db, "SELECT count(*) FROM evaluations WHERE submission_id = %s AND status = 'answered'",
                UUID(sub_id)) == [(len(assigned),)]
