"""Layer C, the human review queue: which transitions an item may take, and who may take them.

Pure: the service loads the item, asks :func:`transition`, and writes the answer.

    pending --claim--> claimed --review-->   reviewed   (terminal)
                               --escalate--> escalated --claim--> claimed (a senior takes it over)
                               --dismiss-->  dismissed  (terminal)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from chalicelib.domain.errors import Conflict

Status = Literal["pending", "claimed", "reviewed", "escalated", "dismissed"]
Action = Literal["claim", "review", "escalate", "dismiss"]
Decision = Literal["approve", "reject"]

STATUSES: tuple[Status, ...] = get_args(Status)
ACTIONS: tuple[Action, ...] = get_args(Action)
TERMINAL: frozenset[Status] = frozenset({"reviewed", "dismissed"})

# The whole state machine. Anything not listed is refused.
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    ("pending", "claim"): "claimed",
    ("escalated", "claim"): "claimed",
    ("claimed", "review"): "reviewed",
    ("claimed", "escalate"): "escalated",
    ("claimed", "dismiss"): "dismissed",
}

# What a reviewer's decision on a submission item means for the submission.
DECISION_VERDICT: dict[Decision, Literal["approved", "rejected"]] = {"approve": "approved", "reject": "rejected"}
# Submission statuses a reviewer's decision still changes: awaiting a decision, or awaiting a human.
OPEN_SUBMISSION_STATUSES: frozenset[str] = frozenset({"pending", "flagged"})
# Deciders whose final verdicts a reviewer can overturn.
AUTOMATIC_DECIDERS: frozenset[str] = frozenset({"layer_a", "layer_b", "peer", "fallback"})


class InvalidTransition(Conflict):
    """The item's status does not allow the action (HTTP 409)."""


def allowed_actions(status: Status) -> tuple[Action, ...]:
    """The actions an item in ``status`` accepts, in the order of :data:`ACTIONS`."""
    return tuple(action for action in ACTIONS if (status, action) in TRANSITIONS)


def transition(status: Status, action: Action, *, claimed_by: str | None, actor: str) -> Status:
    """The status after ``actor`` applies ``action`` to an item in ``status``.

    Raises :class:`InvalidTransition` when the state machine has no such edge, and also when
    an item claimed by one reviewer is reviewed, escalated or dismissed by another: a claim
    means one person decides. Claiming never depends on the actor.
    """
    target = TRANSITIONS.get((status, action))
    if target is None:
        raise InvalidTransition(
            f"cannot {action} an item that is {status}",
            details={"status": status, "action": action, "allowed": list(allowed_actions(status))},
        )
    if action != "claim" and claimed_by is not None and claimed_by != actor:
        raise InvalidTransition(
            f"the item is claimed by another reviewer; only they may {action} it",
            details={"status": status, "action": action, "claimed_by": claimed_by},
        )
    return target


@dataclass(frozen=True)
class Overturn:
    """A reviewer disagreeing with a final automatic verdict."""

    from_status: str
    to_status: str
    decided_by: str

    @property
    def against_agent(self) -> bool:
        """True when content the machines published was rejected: this counts in the compliance score."""
        return self.to_status == "rejected"

    def to_dict(self) -> dict[str, str | bool]:
        return {"from": self.from_status, "to": self.to_status, "decided_by": self.decided_by,
                "against_agent": self.against_agent}


def overturn_of(status: str, decided_by: str | None, verdict: str) -> Overturn | None:
    """The overturn a reviewer's ``verdict`` makes of a submission's current decision, if any.

    Only final automatic verdicts (approved or rejected by Layer A, Layer B, peers or the
    fallback) can be overturned; a pending or flagged submission was waiting for this decision.
    """
    if status not in ("approved", "rejected") or decided_by not in AUTOMATIC_DECIDERS or verdict == status:
        return None
    assert decided_by is not None
    return Overturn(from_status=status, to_status=verdict, decided_by=decided_by)
