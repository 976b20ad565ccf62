"""Layer C's state machine: pending -> claimed -> reviewed | escalated | dismissed, nothing else."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.domain import review
from chalicelib.domain.errors import Conflict
from chalicelib.domain.review import ACTIONS, STATUSES, TERMINAL, InvalidTransition, overturn_of, transition

ALICE, BOB = "admin:alice", "admin:bob"

VALID = {
    ("pending", "claim"): "claimed",
    ("escalated", "claim"): "claimed",
    ("claimed", "review"): "reviewed",
    ("claimed", "escalate"): "escalated",
    ("claimed", "dismiss"): "dismissed",
}


@pytest.mark.parametrize(("status", "action"), sorted(VALID))
def test_each_valid_transition_leads_where_the_queue_expects(status: str, action: str) -> None:
    claimed_by = ALICE if status == "claimed" else None
    assert transition(status, action, claimed_by=claimed_by, actor=ALICE) == VALID[(status, action)]  # type: ignore[arg-type]


INVALID = [pair for pair in itertools.product(STATUSES, ACTIONS) if pair not in VALID]


@pytest.mark.parametrize(("status", "action"), INVALID)
def test_every_other_transition_is_a_409_conflict(status: str, action: str) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(status, action, claimed_by=ALICE, actor=ALICE)  # type: ignore[arg-type]
    assert isinstance(caught.value, Conflict) and caught.value.status == 409
    assert caught.value.details["allowed"] == list(review.allowed_actions(status))  # type: ignore[arg-type]


def test_the_table_covers_exactly_the_designed_edges() -> None:
    assert review.TRANSITIONS == VALID
    assert len(INVALID) == len(STATUSES) * len(ACTIONS) - len(VALID)


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_reviewed_and_dismissed_items_are_final(status: str) -> None:
    assert review.allowed_actions(status) == ()  # type: ignore[arg-type]


@pytest.mark.parametrize("action", ["review", "escalate", "dismiss"])
def test_only_the_reviewer_who_claimed_an_item_may_resolve_it(action: str) -> None:
    with pytest.raises(InvalidTransition):
        transition("claimed", action, claimed_by=ALICE, actor=BOB)  # type: ignore[arg-type]
    assert transition("claimed", action, claimed_by=ALICE, actor=ALICE) in {"reviewed", "escalated", "dismissed"}  # type: ignore[arg-type]


def test_a_claimed_item_cannot_be_claimed_again_even_by_its_reviewer() -> None:
    for actor in (ALICE, BOB):
        with pytest.raises(InvalidTransition):
            transition("claimed", "claim", claimed_by=ALICE, actor=actor)


# --- overturns ------------------------------------------------------------------------------


@pytest.mark.parametrize("decided_by", ["layer_a", "layer_b", "peer", "fallback"])
def test_rejecting_an_automatic_approval_is_an_overturn_against_the_agent(decided_by: str) -> None:
    found = overturn_of("approved", decided_by, "rejected")
    assert found is not None and found.against_agent
    assert found.to_dict() == {"from": "approved", "to": "rejected", "decided_by": decided_by,
                               "against_agent": True}


def test_approving_an_automatic_rejection_is_an_overturn_in_the_agents_favour() -> None:
    found = overturn_of("rejected", "peer", "approved")
    assert found is not None and not found.against_agent


@pytest.mark.parametrize(
    ("status", "decided_by", "verdict"),
    [
        ("approved", "layer_b", "approved"),  # agreement
        ("rejected", "peer", "rejected"),
        ("flagged", "layer_b", "rejected"),  # flagged was waiting for a human
        ("pending", None, "approved"),
        ("approved", "admin", "rejected"),  # a reviewer changing a reviewer is not an automatic overturn
    ],
)
def test_no_overturn_without_a_contradicted_automatic_final_verdict(
    status: str, decided_by: str | None, verdict: str
) -> None:
    assert overturn_of(status, decided_by, verdict) is None
