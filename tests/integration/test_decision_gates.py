"""Decision gates and the go/no-go are computed from the data; the collusion report finds copying rings."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from tests.integration.peer_support import (
    PeerWorld,
    execute,
    fake_reviews,
    world_fixture,  # noqa: F401 - the `world` fixture
)


def gates_by_name(world: PeerWorld) -> dict[str, dict[str, object]]:
    answer = world.api.get("/v1/admin/decision-gates", key=world.admin)
    assert answer.status == 200, answer.body
    return {g["name"]: g for g in answer.data["gates"]}


def test_with_no_history_the_gates_are_not_met_or_unknown_never_met(world: PeerWorld) -> None:
    answer = world.api.get("/v1/admin/decision-gates", key=world.admin)
    assert answer.status == 200
    data = answer.data
    states = {g["name"]: g["state"] for g in data["gates"]}
    assert states == {
        "traffic": "not_met", "false_negatives": "unknown", "economy_ratio": "unknown",
        "validator_pool": "not_met", "consensus_p95": "unknown", "hardship": "met",
    }
    assert data["all_met"] is False
    assert data["go_no_go"]["verdict"] == "no_go"  # fewer than 10 active validators
    assert world.api.get("/v1/admin/decision-gates", key=world.submitter_key).status == 403


def test_gates_follow_the_measured_figures(world: PeerWorld) -> None:
    world.add_validators(12)
    assert world.set_flag("PEER_VALIDATION_TRAFFIC_PCT", 50).status == 200
    reviews = fake_reviews(world.db, 20, mode="live")
    for i, sub_id in enumerate(reviews):
        execute(world.db, "UPDATE consensus_decisions SET latency_ms = %s WHERE submission_id = %s",
                200 + i * 100, sub_id)
    # 10 of 12 validators drop below the hardship line (10 credits): hardship 10/13 agents.
    execute(world.db, "UPDATE accounts SET balance = 5000 WHERE agent_id IN"
                      " (SELECT agent_id FROM validators ORDER BY agent_id LIMIT 10)")
    gates = gates_by_name(world)
    assert gates["traffic"]["state"] == "met"
    assert gates["validator_pool"]["state"] == "not_met" and gates["validator_pool"]["value"] == 13
    assert gates["consensus_p95"]["state"] == "met" and gates["consensus_p95"]["value"] == 2000
    assert gates["hardship"]["state"] == "not_met"
    execute(world.db, "UPDATE consensus_decisions SET latency_ms = 16000 WHERE submission_id = %s", reviews[-1])
    execute(world.db, "UPDATE consensus_decisions SET latency_ms = 15500 WHERE submission_id = %s", reviews[-2])
    assert gates_by_name(world)["consensus_p95"]["state"] == "not_met"


def snapshot(db: str, days_ago: int, *, ratio: str | None, state: str = "defined") -> None:
    execute(db, "INSERT INTO economy_snapshots (window_start, window_end, faucet, starter_grants, sink, ratio,"
                " ratio_state, active_agents, agents_total, hardship_agents, hardship_rate, median_balance,"
                " circulating, total_validators) VALUES (now() - make_interval(days => %s, hours => 1),"
                " now() - make_interval(days => %s), 1000, 0, 1000, %s, %s, 10, 100, 0, 0, 50000, 0, 0)",
            days_ago, days_ago, ratio, state)


def test_the_economy_gate_reads_seven_days_of_snapshots(world: PeerWorld) -> None:
    for day in range(6):
        snapshot(world.db, day, ratio="1.0500")
    gates = gates_by_name(world)
    assert gates["economy_ratio"]["state"] == "unknown"  # six days are not seven
    snapshot(world.db, 6, ratio="0.7000")
    assert gates_by_name(world)["economy_ratio"]["state"] == "met"
    snapshot(world.db, 3, ratio=None, state="no_sink")  # later that day: paid out, nothing sunk
    execute(world.db, "UPDATE economy_snapshots SET window_end = window_end + interval '1 second'"
                      " WHERE ratio_state = 'no_sink'")
    assert gates_by_name(world)["economy_ratio"]["state"] == "not_met"


def test_collusion_report_names_a_ring_that_errs_together(world: PeerWorld) -> None:
    validators = world.add_validators(3)
    ring = sorted([validators[0].id, validators[1].id])
    honest = validators[2].id
    reviews = fake_reviews(world.db, 25, mode="live", layer_b="rejected")
    with psycopg.connect(world.db, autocommit=True) as conn:
        for sub_id in reviews:
            for validator_id, decision in ((ring[0], "approve"), (ring[1], "approve"), (honest, "reject")):
                conn.execute(
                    "INSERT INTO evaluations (id, submission_id, validator_id, mode, tier_at_assignment, status,"
                    " assigned_at, expires_at, decision, confidence, safety_flagged, responded_at, closed_at,"
                    " truth, truth_source, scored_at) VALUES (%s, %s, %s, 'live', 'apprentice', 'answered',"
                    " now(), now(), %s, 1, false, now(), now(), 'rejected', 'layer_b', now())",
                    (uuid4(), sub_id, UUID(validator_id), decision))
    report = world.api.get("/v1/admin/validators/collusion?days=30", key=world.admin)
    assert report.status == 200
    assert [(p["a"], p["b"], p["shared"], p["agreement"]) for p in report.data["pairs"]] == [
        (ring[0], ring[1], 25, 1.0)]
    assert report.data["reviews"] == 75


def test_the_collusion_report_counts_in_the_database_what_the_rule_says_and_signals_its_cap(
    world: PeerWorld, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import random

    from chalicelib.domain import collusion

    validators = [v.id for v in world.add_validators(5)]
    rng = random.Random(15)
    rows: list[tuple[str, str, str, str]] = []
    with psycopg.connect(world.db, autocommit=True) as conn:
        for sub_id in fake_reviews(world.db, 60, mode="live", layer_b="rejected"):
            truth = rng.choice(["approved", "rejected"])
            common = rng.choice(["approve", "reject"])
            for i, validator_id in enumerate(validators):
                # three copy each other most of the time; two decide on their own
                decision = common if i < 3 and rng.random() < 0.99 else rng.choice(["approve", "reject", "flag"])
                conn.execute(
                    "INSERT INTO evaluations (id, submission_id, validator_id, mode, tier_at_assignment, status,"
                    " assigned_at, expires_at, decision, confidence, safety_flagged, responded_at, closed_at,"
                    " truth, truth_source, scored_at) VALUES (%s, %s, %s, 'live', 'apprentice', 'answered',"
                    " now(), now(), %s, 1, false, now(), now(), %s, 'layer_b', now())",
                    (uuid4(), sub_id, UUID(validator_id), decision, truth))
                rows.append((str(sub_id), validator_id, decision, truth))
    found: dict[bool, int] = {}
    for against_truth in (False, True):
        report = world.api.get(f"/v1/admin/validators/collusion?days=30&against_truth={str(against_truth).lower()}",
                               key=world.admin)
        assert report.status == 200, report.body
        truths: dict[str, Any] = {s: t for s, _, _, t in rows}
        expected = collusion.collusive_pairs([(s, v, d) for s, v, d, _ in rows],  # type: ignore[misc]
                                             ground_truth=truths if against_truth else None)
        got = [(p["a"], p["b"], p["shared"], round(p["agreement"], 9)) for p in report.data["pairs"]]
        assert got == [(p.a, p.b, p.shared, round(p.agreement, 9)) for p in expected]
        assert report.data["truncated"] is False and report.data["reviews"] == len(rows)
        found[against_truth] = len(expected)
    assert found[False] >= 2 and found[True] >= 1  # the copying ring is found both ways
    # Given a cap below the number of qualifying pairs, the worst pairs are listed and the cut is said
    monkeypatch.setattr(collusion, "MAX_PAIRS", 1)
    capped = world.api.get("/v1/admin/validators/collusion?days=30", key=world.admin).data
    assert capped["truncated"] is True and len(capped["pairs"]) == 1 and capped["max_pairs"] == 1
