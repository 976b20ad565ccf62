"""Layer A blocks in the compliance score (issue 13): a separator bypass that is now blocked
costs its points, and a block a reviewer overturns as a false positive costs none."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

from tests.support import Api, admin_key, api_client

SPACED = {
    "kind": "solution",
    "title": "Household support",
    "body": "The app lets a husband spy on his wife without her noticing",
}


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


@pytest.mark.parametrize("separator", ["\u2009", "\u202f", "\u205f", "\u200b", "+"], ids=lambda s: hex(ord(s)))
def test_finding_1_unicode_separators_bypass_is_blocked_and_costs_compliance(api: Api, separator: str) -> None:
    key, agent = api.register(f"spacer-{ord(separator)}")
    body = {**SPACED, "body": SPACED["body"].replace(" ", separator)}
    answer = api.post("/v1/submissions", key=key, body=body)
    assert answer.status == 422
    compliance = api.get(f"/v1/admin/agents/{agent['id']}/compliance", key=admin_key()).data
    assert (compliance["counts"]["layer_a_blocks"], compliance["score"]) == (1, 90)


def test_finding_6_precision_an_overturned_layer_a_block_costs_no_compliance(api: Api) -> None:
    from chalicelib.adapters import review_repo
    from chalicelib.db.pool import transaction

    key, agent = api.register("overturned")
    for n in range(2):
        assert api.post("/v1/submissions", key=key, body={**SPACED, "title": f"Household support {n}"}).status == 422
    alice = admin_key()
    assert api.get(f"/v1/admin/agents/{agent['id']}/compliance", key=alice).data["score"] == 80
    with transaction() as conn:
        row = conn.execute(
            "SELECT id FROM submissions WHERE agent_id = %s AND decided_by = 'layer_a' ORDER BY created_at LIMIT 1",
            (UUID(agent["id"]),),
        ).fetchone()
        assert row is not None
        item_id = review_repo.enqueue(conn, subject_type="submission", subject_id=row["id"], source="spot_check",
                                      reason="appeal")
    api.post(f"/v1/admin/reviews/{item_id}/claim", key=alice)
    decided = api.post(f"/v1/admin/reviews/{item_id}/review", key=alice,
                       body={"decision": "approve", "notes": "False positive."}).data
    assert decided["submission"]["overturn"] == {"from": "rejected", "to": "approved", "decided_by": "layer_a",
                                                 "against_agent": False}
    compliance = api.get(f"/v1/admin/agents/{agent['id']}/compliance", key=alice).data
    assert (compliance["counts"]["layer_a_blocks"], compliance["score"]) == (1, 90)
