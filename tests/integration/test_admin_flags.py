"""Operators and flags: read, change with an audit, the traffic-raise gate, rollback within the cache TTL.

Regressions: defect 2 (the gate compared a fraction with 80) and defect 7 (a stored value out of
range broke every later flag read).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.integration.peer_support import (
    PeerWorld,
    execute,
    fake_reviews,
    rows,
    world_fixture,  # noqa: F401 - the `world` fixture
)


def shadow_comparisons(db: str, total: int, agreeing: int) -> None:
    for i, sub_id in enumerate(fake_reviews(db, total)):
        execute(db, "INSERT INTO shadow_comparisons (submission_id, consensus_outcome, layer_b_decision, agrees)"
                    " VALUES (%s, 'approved', 'approved', %s)", sub_id, i < agreeing)


def test_flags_are_listed_typed_and_changes_are_validated_and_audited(world: PeerWorld) -> None:
    listed = world.api.get("/v1/admin/flags", key=world.admin)
    assert listed.status == 200
    by_name = {f["name"]: f for f in listed.data}
    assert by_name["SPOT_CHECK_PCT"]["value"] == 5 and by_name["SPOT_CHECK_PCT"]["maximum"] == 100
    assert world.api.get("/v1/admin/flags", key=world.submitter_key).status == 403

    bad = world.set_flag("SUBMISSION_COST_MULTIPLIER", 7)
    assert bad.status == 400 and bad.error["details"]["maximum"] == 5
    assert world.set_flag("SPOT_CHECK_PCT", "10").status == 400
    assert world.set_flag("PEER_VALIDATION_ENABLED", 1).status == 400
    missing_reason = world.api.put("/v1/admin/flags/SPOT_CHECK_PCT", key=world.admin, body={"value": 10})
    assert missing_reason.status == 400
    assert world.api.get("/v1/admin/flags/NO_SUCH_FLAG", key=world.admin).status == 404

    changed = world.set_flag("SPOT_CHECK_PCT", 10, force=False, reason="more checks this week")
    assert changed.status == 200
    assert (changed.data["previous_value"], changed.data["value"]) == (None, 10)
    detail = world.api.get("/v1/admin/flags/SPOT_CHECK_PCT", key=world.admin).data
    [change] = detail["history"]
    assert change["new_value"] == 10 and change["reason"] == "more checks this week"
    assert change["actor"].startswith("admin:") and change["forced"] is False


def test_defect_2_traffic_raise_is_refused_at_079_agreement_over_100_comparisons(world: PeerWorld) -> None:
    """Defect 2: the gate compared a fraction (0.79) with 80 — units mixed. Here 0.79 < 0.80 refuses."""
    shadow_comparisons(world.db, 100, 79)
    refused = world.set_flag("PEER_VALIDATION_TRAFFIC_PCT", 10, force=False)
    assert refused.status == 409 and refused.error["code"] == "CONFLICT"
    figures = refused.error["details"]
    assert figures["shadow_agreement"] == 0.79 and figures["comparisons"] == 100
    assert figures["required_agreement"] == 0.8 and figures["current_pct"] == 0 and figures["requested_pct"] == 10
    assert rows(world.db, "SELECT count(*) FROM feature_flag_changes") == [(0,)]

    forced = world.set_flag("PEER_VALIDATION_TRAFFIC_PCT", 10, force=True, reason="incident review signed off")
    assert forced.status == 200 and forced.data["value"] == 10 and forced.data["gate"]["reason"] == "forced"
    assert rows(world.db, "SELECT forced, reason FROM feature_flag_changes") == [
        (True, "incident review signed off")]
    # Lowering never needs evidence.
    assert world.set_flag("PEER_VALIDATION_TRAFFIC_PCT", 5, force=False).status == 200


def test_traffic_raise_is_allowed_at_080_and_refused_without_100_comparisons(world: PeerWorld) -> None:
    shadow_comparisons(world.db, 99, 99)
    assert world.set_flag("PEER_VALIDATION_TRAFFIC_PCT", 10, force=False).status == 409
    shadow_comparisons(world.db, 1, 0)  # 99 of 100 agree
    allowed = world.set_flag("PEER_VALIDATION_TRAFFIC_PCT", 10, force=False)
    assert allowed.status == 200 and allowed.data["gate"]["reason"] == "shadow_agreement_ok"


def test_rollback_sends_new_routing_decisions_to_layer_b_at_once(world: PeerWorld) -> None:
    world.add_validators(8)
    world.peer_traffic(100)
    before = world.submit()
    assert world.submission(before)["route_path"] == "peer"
    rolled = world.api.post("/v1/admin/rollback", key=world.admin, body={"reason": "false negatives spiking"})
    assert rolled.status == 200
    assert (rolled.data["previous_value"], rolled.data["value"]) == (100, 0)
    assert rolled.data["effective_within_seconds"] <= 5
    after = world.submit()
    detail = world.submission(after)
    routing = next(t for t in detail["trail"] if t["stage"] == "routing")["verdict"]
    assert routing["path"] == "layer_b" and routing["flags"]["PEER_VALIDATION_TRAFFIC_PCT"] == 0
    assert detail["decided_by"] == "layer_b"
    assert rows(world.db, "SELECT reason FROM feature_flag_changes ORDER BY id DESC LIMIT 1") == [
        ("rollback: false negatives spiking",)]
    assert world.api.post("/v1/admin/rollback", key=world.admin, body={}).status == 400


def test_rollback_reaches_another_process_within_the_flag_cache_ttl(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds flags cached from before the rollback: it routes to peers for at most
    CACHE_TTL_S, then every new decision goes to Layer B."""
    from chalicelib.adapters import flags_repo
    from chalicelib.db.pool import transaction
    from chalicelib.domain import routing
    from chalicelib.domain.flags import CACHE_TTL_S

    now = [1000.0]
    # This process's clock, as the flag cache reads it (nothing else is affected).
    monkeypatch.setattr(flags_repo, "time", SimpleNamespace(monotonic=lambda: now[0]))
    with transaction() as conn:
        flags_repo.set_flag(conn, "PEER_VALIDATION_ENABLED", True, actor="test", reason="setup")
        flags_repo.set_flag(conn, "PEER_VALIDATION_TRAFFIC_PCT", 100, actor="test", reason="setup", forced=True)
        cached = flags_repo.current(conn)  # this process's cache, filled at t = 1000 s
    assert cached["PEER_VALIDATION_TRAFFIC_PCT"] == 100
    # The rollback happens in another process: the row changes, this process's cache does not know.
    execute(db, "UPDATE feature_flags SET value = '0' WHERE name = 'PEER_VALIDATION_TRAFFIC_PCT'")

    def path_now() -> str:
        with transaction() as conn:
            flags = flags_repo.current(conn)
        return routing.route(routing.RoutingInput(
            submission_id="00000000-0000-4000-8000-000000000001", agent_verified=True, is_mission=False,
            peer_enabled=bool(flags["PEER_VALIDATION_ENABLED"]),
            traffic_pct=int(flags["PEER_VALIDATION_TRAFFIC_PCT"]))).path

    now[0] = 1000.0 + CACHE_TTL_S / 2
    assert path_now() == "peer"
    now[0] = 1000.0 + CACHE_TTL_S + 0.01
    assert path_now() == "layer_b"
    assert CACHE_TTL_S <= 5


def test_defect_7_a_bad_stored_flag_value_never_breaks_reads(world: PeerWorld) -> None:
    """Defect 7: a flag value outside its range broke every later flag read."""
    garbage = {
        "PEER_VALIDATION_TRAFFIC_PCT": "500",
        "SPOT_CHECK_PCT": '"banana"',
        "SUBMISSION_COST_MULTIPLIER": "1e400",
        "PEER_VALIDATION_ENABLED": '{"on": true}',
        "LAYER_B_DAILY_BUDGET_CENTS": "-3",
        "VALIDATION_REWARD_MULTIPLIER": "null",
    }
    for name, raw in garbage.items():
        execute(world.db, "INSERT INTO feature_flags (name, value, updated_by) VALUES (%s, %s::jsonb, 'vandal')"
                          " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", name, raw)
    listed = world.api.get("/v1/admin/flags", key=world.admin)
    assert listed.status == 200
    by_name = {f["name"]: f for f in listed.data}
    for name in garbage:
        assert by_name[name]["stored_value_valid"] is False, name
        assert by_name[name]["value"] == by_name[name]["default"], name
    assert by_name["PEER_VALIDATION_TRAFFIC_PCT"]["stored_value"] == "500"
    # Every path that reads flags keeps working on the defaults.
    sub_id = world.submit()
    assert world.submission(sub_id)["status"] == "approved"
    assert world.api.get("/v1/admin/decision-gates", key=world.admin).status == 200
    # And an operator can write over the garbage.
    fixed = world.set_flag("PEER_VALIDATION_TRAFFIC_PCT", 0, force=False)
    assert fixed.status == 200 and fixed.data["stored_value_valid"] is True
    assert rows(world.db, "SELECT old_value FROM feature_flag_changes WHERE name = %s",
                "PEER_VALIDATION_TRAFFIC_PCT") == [(0,)]
