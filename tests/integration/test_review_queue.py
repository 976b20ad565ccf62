"""Layer C through the admin API: content Layer B flags waits for a human, who claims it, decides it,
escalates it or dismisses it; only valid transitions pass, and a decision reaches the submission."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from tests.support import Api, admin_key, api_client, drain_outbox

SUBMISSION = {
    "kind": "problem",
    "title": "Community garden needs water access",
    "body": "Our neighbourhood food garden has no tap; volunteers carry water 400 m. "
            "A rain tank and a shared hose line would help food security for 60 families.",
    "domain": "food_security",
}


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


def rows(db: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def flagged_submission(api: Api, n: int = 0) -> tuple[str, str, str]:
    """A new agent's submission: Layer B sends it to human review. Returns (agent key, submission, item)."""
    key, _ = api.register(f"newcomer-{n}")
    sub_id = api.post("/v1/submissions", key=key, body={**SUBMISSION, "title": f"{SUBMISSION['title']} {n}"}).data["id"]
    drain_outbox()
    assert api.get(f"/v1/submissions/{sub_id}", key=key).data["status"] == "flagged"
    items = api.get("/v1/admin/reviews?subject_type=submission&status=pending&limit=100", key=admin_key()).data
    item_id = next(i["id"] for i in items if i["subject_id"] == sub_id)
    return key, sub_id, item_id


def enqueue_item(subject_id: str, *, subject_type: str = "submission", reason: str = "spot_check_disagreement") -> str:
    from chalicelib.adapters import review_repo
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        item_id = review_repo.enqueue(conn, subject_type=subject_type, subject_id=UUID(subject_id),
                                      source="spot_check", reason=reason)
    return str(item_id)


def test_a_flagged_submission_is_claimed_and_approved_by_a_reviewer(api: Api, db: str) -> None:
    key, sub_id, item_id = flagged_submission(api)
    alice = admin_key()

    claimed = api.post(f"/v1/admin/reviews/{item_id}/claim", key=alice)
    assert claimed.status == 200 and claimed.data["status"] == "claimed"
    assert claimed.data["claimed_by"].startswith("admin:")

    decided = api.post(f"/v1/admin/reviews/{item_id}/review", key=alice,
                       body={"decision": "approve", "notes": "Concrete and harmless."})
    assert decided.status == 200, decided.body
    assert decided.data["item"]["status"] == "reviewed" and decided.data["item"]["resolution"] == "approve"
    assert decided.data["submission"]["applied"] is True and decided.data["submission"]["overturn"] is None

    sub = api.get(f"/v1/submissions/{sub_id}", key=key).data
    assert (sub["status"], sub["decided_by"]) == ("approved", "admin")
    admin_entry = sub["trail"][-1]
    assert admin_entry["stage"] == "admin_review"
    assert admin_entry["verdict"]["previous"] == {"status": "flagged", "decided_by": "layer_b"}
    assert "notes" not in admin_entry["verdict"], "reviewer notes stay internal"
    assert rows(db, "SELECT approvals_count FROM agents WHERE id = %s", UUID(sub["agent_id"])) == [(1,)]

    history = api.get(f"/v1/admin/reviews/{item_id}", key=alice).data
    assert [(e["action"], e["from_status"], e["to_status"]) for e in history["events"]] == [
        ("claim", "pending", "claimed"), ("review", "claimed", "reviewed")]
    assert history["subject"]["status"] == "approved"


def test_a_rejection_by_a_reviewer_rejects_the_flagged_submission(api: Api) -> None:
    key, sub_id, item_id = flagged_submission(api)
    alice = admin_key()
    api.post(f"/v1/admin/reviews/{item_id}/claim", key=alice)
    api.post(f"/v1/admin/reviews/{item_id}/review", key=alice, body={"decision": "reject", "notes": "Off-topic."})
    sub = api.get(f"/v1/submissions/{sub_id}", key=key).data
    assert (sub["status"], sub["decided_by"]) == ("rejected", "admin")


def test_only_the_claiming_reviewer_resolves_and_a_claimed_item_cannot_be_claimed_twice(api: Api) -> None:
    _, _, item_id = flagged_submission(api)
    alice, bob = admin_key(), admin_key()
    assert api.post(f"/v1/admin/reviews/{item_id}/claim", key=alice).status == 200
    for path, body in [("claim", None), ("review", {"decision": "approve", "notes": "mine"}),
                       ("escalate", {"notes": "mine"}), ("dismiss", {"notes": "mine"})]:
        answer = api.post(f"/v1/admin/reviews/{item_id}/{path}", key=bob, body=body)
        assert answer.status == 409 and answer.error["code"] == "CONFLICT", (path, answer.body)


def test_an_escalated_item_is_taken_over_and_decided_by_a_senior(api: Api) -> None:
    key, sub_id, item_id = flagged_submission(api)
    alice, senior = admin_key(), admin_key()
    api.post(f"/v1/admin/reviews/{item_id}/claim", key=alice)
    escalated = api.post(f"/v1/admin/reviews/{item_id}/escalate", key=alice,
                         body={"notes": "Possible medical claim, not sure."})
    assert escalated.data["status"] == "escalated" and escalated.data["claimed_by"] is None
    listed = api.get("/v1/admin/reviews?status=escalated", key=senior).data
    assert [i["id"] for i in listed] == [item_id]

    assert api.post(f"/v1/admin/reviews/{item_id}/claim", key=senior).status == 200
    api.post(f"/v1/admin/reviews/{item_id}/review", key=senior, body={"decision": "reject", "notes": "Unsafe."})
    assert api.get(f"/v1/submissions/{sub_id}", key=key).data["status"] == "rejected"


def test_a_dismissed_item_leaves_the_submission_as_it_was(api: Api, db: str) -> None:
    key, sub_id, item_id = flagged_submission(api)
    alice = admin_key()
    api.post(f"/v1/admin/reviews/{item_id}/claim", key=alice)
    dismissed = api.post(f"/v1/admin/reviews/{item_id}/dismiss", key=alice, body={"notes": "Duplicate item."})
    assert dismissed.data["status"] == "dismissed" and dismissed.data["resolution"] == "dismissed"
    assert api.get(f"/v1/submissions/{sub_id}", key=key).data["status"] == "flagged"
    assert rows(db, "SELECT count(*) FROM decision_trail WHERE stage = 'admin_review'") == [(0,)]


# Every action the state machine refuses, from every status, answers 409 and writes nothing.
REFUSED = [
    ("pending", "review"), ("pending", "escalate"), ("pending", "dismiss"),
    ("claimed", "claim"),
    ("reviewed", "claim"), ("reviewed", "review"), ("reviewed", "escalate"), ("reviewed", "dismiss"),
    ("escalated", "review"), ("escalated", "escalate"), ("escalated", "dismiss"),
    ("dismissed", "claim"), ("dismissed", "review"), ("dismissed", "escalate"), ("dismissed", "dismiss"),
]
BODIES: dict[str, dict[str, str] | None] = {
    "claim": None, "review": {"decision": "approve", "notes": "n"}, "escalate": {"notes": "n"},
    "dismiss": {"notes": "n"},
}
STEPS_TO = {"pending": [], "claimed": ["claim"], "reviewed": ["claim", "review"],
            "escalated": ["claim", "escalate"], "dismissed": ["claim", "dismiss"]}


@pytest.mark.parametrize(("status", "action"), REFUSED)
def test_every_invalid_transition_is_409_and_changes_nothing(api: Api, db: str, status: str, action: str) -> None:
    alice = admin_key()
    item_id = enqueue_item(str(uuid4()), subject_type="agent", reason="test")
    for step in STEPS_TO[status]:
        assert api.post(f"/v1/admin/reviews/{item_id}/{step}", key=alice, body=BODIES[step]).status == 200
    before = rows(db, "SELECT * FROM review_items")
    events = rows(db, "SELECT count(*) FROM review_item_events")

    answer = api.post(f"/v1/admin/reviews/{item_id}/{action}", key=alice, body=BODIES[action])
    assert answer.status == 409 and answer.error["code"] == "CONFLICT"
    assert answer.error["details"]["status"] == status
    assert rows(db, "SELECT * FROM review_items") == before
    assert rows(db, "SELECT count(*) FROM review_item_events") == events


def test_rejecting_content_the_machines_approved_records_an_overturn_without_unpublishing(
    api: Api, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("TRUST_VERIFIED_MIN_AGE_DAYS", "0")
    monkeypatch.setenv("TRUST_VERIFIED_MIN_APPROVALS", "0")
    reset_settings()
    key, agent = api.register("published")
    # The offline classifier approves this for a verified agent.
    body = {**SUBMISSION, "body": SUBMISSION["body"] + " Pilot plan: survey, budget, partner farms, 3 months."}
    sub_id = api.post("/v1/submissions", key=key, body=body).data["id"]
    drain_outbox()
    assert api.get(f"/v1/submissions/{sub_id}", key=key).data["status"] == "approved"

    item_id = enqueue_item(sub_id)  # e.g. a spot check disagreed
    alice = admin_key()
    api.post(f"/v1/admin/reviews/{item_id}/claim", key=alice)
    decided = api.post(f"/v1/admin/reviews/{item_id}/review", key=alice,
                       body={"decision": "reject", "notes": "Misleading."}).data
    assert decided["submission"]["applied"] is False
    assert decided["submission"]["overturn"] == {"from": "approved", "to": "rejected", "decided_by": "layer_b",
                                                 "against_agent": True}
    sub = api.get(f"/v1/submissions/{sub_id}", key=key).data
    assert (sub["status"], sub["decided_by"]) == ("approved", "layer_b")
    assert sub["trail"][-1]["stage"] == "admin_review"
    compliance = api.get(f"/v1/admin/agents/{agent['id']}/compliance", key=alice).data
    assert compliance["counts"]["admin_overturns"] == 1 and compliance["score"] == 97


def test_the_queue_pages_oldest_first_and_filters_by_status(api: Api) -> None:
    alice = admin_key()
    ids = [enqueue_item(str(uuid4()), subject_type="evidence", reason=f"r{n}") for n in range(5)]
    api.post(f"/v1/admin/reviews/{ids[0]}/claim", key=alice)

    seen, cursor = [], None
    while True:
        page = api.get("/v1/admin/reviews?limit=2" + (f"&cursor={cursor}" if cursor else ""), key=alice)
        seen += [i["id"] for i in page.data]
        cursor = page.body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    pending = api.get("/v1/admin/reviews?status=pending", key=alice).data
    assert [i["id"] for i in pending] == ids[1:]
    assert api.get("/v1/admin/reviews?status=closed", key=alice).status == 400
    assert api.get("/v1/admin/reviews?cursor=bm90LWEtY3Vyc29y", key=alice).status == 400


def test_the_queue_is_for_admins_and_unknown_items_are_404(api: Api) -> None:
    key, _ = api.register("nosy")
    assert api.get("/v1/admin/reviews", key=key).status == 403
    alice = admin_key()
    assert api.get(f"/v1/admin/reviews/{uuid4()}", key=alice).status == 404
    assert api.post(f"/v1/admin/reviews/{uuid4()}/claim", key=alice).status == 404
    item_id = enqueue_item(str(uuid4()), subject_type="agent")
    api.post(f"/v1/admin/reviews/{item_id}/claim", key=alice)
    bad = api.post(f"/v1/admin/reviews/{item_id}/review", key=alice, body={"decision": "maybe", "notes": "x"})
    assert bad.status == 400
    assert api.post(f"/v1/admin/reviews/{item_id}/review", key=alice, body={"decision": "approve"}).status == 400
