"""Shadow work has its own quota: peers comparing themselves with Layer B never starve live work,
and an operator can give a validator today's quota back (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters import operations_repo
from chalicelib.db.pool import transaction
from tests.integration.peer_support import (
    GOOD,
    PeerWorld,
    rows,
    world_fixture,  # noqa: F401 - the `world` fixture
)


@pytest.fixture(autouse=True)
def tight_quotas(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("VALIDATOR_DAILY_QUOTA", "1")
    monkeypatch.setenv("VALIDATOR_SHADOW_DAILY_QUOTA", "1")
    reset_settings()


def submit_as_newcomer(world: PeerWorld, name: str) -> str:
    key, _ = world.api.register(name)
    return world.submit({**GOOD, "title": f"{GOOD['title']} ({name})"}, key=key)


def assignment_entries(world: PeerWorld, sub_id: str) -> list[dict[str, object]]:
    return [t["verdict"] for t in world.submission(sub_id)["trail"] if t["stage"] == "assignment"]


def test_shadow_work_uses_up_its_own_quota_and_live_work_still_finds_validators(world: PeerWorld) -> None:
    world.add_validators(6)
    assert world.set_flag("PEER_VALIDATION_ENABLED", True).status == 200  # shadow mode: traffic 0 %

    first = submit_as_newcomer(world, "shadow-one")
    assert assignment_entries(world, first)[0]["assigned"] == 6
    second = submit_as_newcomer(world, "shadow-two")  # every shadow quota is spent
    [entry] = assignment_entries(world, second)
    assert (entry["mode"], entry["reason"]) == ("shadow", "insufficient_validators")
    assert world.submission(second)["decided_by"] == "layer_b"

    world.peer_traffic(100)
    live = submit_as_newcomer(world, "live-one")
    [live_entry] = assignment_entries(world, live)
    assert (live_entry["mode"], live_entry["assigned"]) == ("live", 6)
    assert world.submission(live)["status"] == "pending"  # waiting for its peers, not fallen back

    with transaction() as conn:  # the insufficient-validators alert counts live routings only
        figures = operations_repo.insufficient_validator_figures(conn, datetime.now(UTC) - timedelta(hours=1))
    assert figures == (0, 1)


def test_an_operator_resets_a_validators_quota_and_the_reset_is_recorded(world: PeerWorld) -> None:
    world.add_validators(6)
    assert world.set_flag("PEER_VALIDATION_ENABLED", True).status == 200
    sub_id = submit_as_newcomer(world, "shadow-one")
    validator, _ = world.assignments(sub_id)[0]  # one who spent a shadow evaluation on it

    url = f"/v1/admin/validators/{validator.id}/quota/reset"
    refused = world.api.post(url, key=world.admin, body={"modes": ["shadow"]})
    assert refused.status == 400  # a reason is required
    reset = world.api.post(url, key=world.admin, body={"reason": "demo day", "modes": ["shadow"]})
    assert reset.status == 200, reset.body
    assert (reset.data["shadow_before"], reset.data["live_before"]) == (1, 0)
    assert reset.data["stats"]["shadow_evaluations_today"] == 0
    [(actor, reason, modes)] = rows(world.db, "SELECT actor, reason, modes FROM validator_quota_resets")
    assert actor.startswith("admin:") and reason == "demo day" and modes == ["shadow"]

    unknown = world.api.post("/v1/admin/validators/00000000-0000-4000-8000-000000000000/quota/reset",
                             key=world.admin, body={"reason": "who?"})
    assert unknown.status == 404
    agent = world.api.post(url, key=validator.key, body={"reason": "me"})
    assert agent.status == 403
