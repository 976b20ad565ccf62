"""Finding things in the review queue: filters by subject, agent, source and status; three sort
orders; keyset pages that never skip or repeat an item, whatever the ties."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from chalicelib.adapters import review_repo
from chalicelib.db.pool import transaction
from tests.integration.test_review_queue import SUBMISSION
from tests.support import Api, admin_key, api_client, drain_outbox


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def walk(api: Api, query: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a listing, following next_cursor."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = api.get(f"/v1/admin/reviews?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""),
                         key=admin_key())
        assert answer.status == 200, answer.body
        found += answer.data
        cursor = answer.body["meta"]["next_cursor"]
        if cursor is None:
            return found


def submit(api: Api, key: str, title: str) -> str:
    created = api.post("/v1/submissions", key=key, body={**SUBMISSION, "title": title})
    assert created.status == 201, created.body
    return str(created.data["id"])


@pytest.fixture
def queue(api: Api) -> dict[str, Any]:
    """Two new agents' flagged submissions, plus items with mixed sources and tied priorities."""
    alice_key, alice = api.register("alice")
    bob_key, bob = api.register("bob")
    alice_subs = [submit(api, alice_key, f"Alice's garden {n}") for n in range(3)]
    bob_subs = [submit(api, bob_key, f"Bob's garden {n}") for n in range(2)]
    drain_outbox()  # new agents: Layer B flags every one, each gets a layer_b item
    with transaction() as conn:  # one transaction: identical created_at, only the id breaks ties
        for n, priority in enumerate((5, 0, 5, 9, 0, 5)):
            review_repo.enqueue(conn, subject_type="submission", subject_id=UUID(bob_subs[n % 2]),
                                source="spot_check", reason="spot_check_disagreement", priority=priority)
        review_repo.enqueue(conn, subject_type="agent", subject_id=UUID(alice["id"]), source="operators",
                            reason="compliance", priority=1)
    return {"alice": alice, "bob": bob, "alice_subs": alice_subs, "bob_subs": bob_subs}


def test_the_one_item_for_a_submission_is_found_by_its_id(api: Api, queue: dict[str, Any]) -> None:
    target = queue["alice_subs"][1]
    items = walk(api, f"subject_id={target}", 20)
    assert [(i["subject_id"], i["source"]) for i in items] == [(target, "layer_b")]


def test_items_about_an_agent_cover_its_submissions_and_itself(api: Api, queue: dict[str, Any]) -> None:
    items = walk(api, f"agent_id={queue['alice']['id']}", 2)
    subjects = {i["subject_id"] for i in items}
    assert subjects == {*queue["alice_subs"], queue["alice"]["id"]}
    bob = walk(api, f"agent_id={queue['bob']['id']}&source=spot_check", 2)
    assert len(bob) == 6 and {i["subject_id"] for i in bob} == set(queue["bob_subs"])


def test_source_and_status_filters_combine(api: Api, queue: dict[str, Any]) -> None:
    assert len(walk(api, "source=layer_b&status=pending", 3)) == 5
    assert walk(api, "source=layer_b&status=reviewed", 3) == []
    assert [i["reason"] for i in walk(api, "source=operators", 3)] == ["compliance"]


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_every_sort_order_pages_without_skipping_or_repeating(api: Api, queue: dict[str, Any], limit: int) -> None:
    oldest = walk(api, "sort=oldest", limit)
    newest = walk(api, "sort=newest", limit)
    by_priority = walk(api, "sort=priority", limit)
    assert len(oldest) == 12 and len({i["id"] for i in oldest}) == 12
    assert [i["id"] for i in newest] == [i["id"] for i in reversed(oldest)]
    assert sorted(i["id"] for i in by_priority) == sorted(i["id"] for i in oldest)
    keys = [(-i["priority"], i["created_at"], i["id"]) for i in by_priority]
    assert keys == sorted(keys)
    assert by_priority[0]["priority"] == 9


def test_bad_filters_and_foreign_cursors_are_400s(api: Api, queue: dict[str, Any]) -> None:
    admin = admin_key()
    for query in ("sort=random", "source=Robert');DROP", "agent_id=nope", "subject_id=1"):
        answer = api.get(f"/v1/admin/reviews?{query}", key=admin)
        assert answer.status == 400 and answer.error["code"] == "VALIDATION_ERROR", query
    ranked = api.get("/v1/admin/reviews?sort=priority&limit=1", key=admin).body["meta"]["next_cursor"]
    plain = api.get("/v1/admin/reviews?sort=oldest&limit=1", key=admin).body["meta"]["next_cursor"]
    assert api.get(f"/v1/admin/reviews?sort=oldest&cursor={ranked}", key=admin).status == 400
    assert api.get(f"/v1/admin/reviews?sort=priority&cursor={plain}", key=admin).status == 400
