"""Peer evaluations: the peer branch of routing (opening evaluations), a validator's open
evaluations, and answering one (the answer that completes the quorum queues the consensus)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from chalicelib.domain import consensus as rules
from chalicelib.domain import routing
from chalicelib.domain.errors import Conflict, Forbidden, Gone, NotFound
from chalicelib.domain.principal import Principal
from chalicelib.observability import emit, logger, metrics
from chalicelib.services.assignment import assign_validators
from chalicelib.services.unit_of_work import UnitOfWork

Handler = Literal["peer", "layer_b", "fallback"]


# --- routing: the peer branch of the guardrail stage -----------------------------------------


def begin_review(
    uow: UnitOfWork, sub: dict[str, Any], decision: routing.RouteDecision, layer_b_decision: str, *,
    layer_b_valid: bool, now: datetime, submitter: dict[str, Any] | None = None,
) -> Handler:
    """After Layer B and routing: who decides this submission now.

    ``peer``: validators were assigned and the submission waits for their consensus. ``layer_b``:
    Layer B's decision applies (the Layer B path, and shadow mode, where peers are assigned too and
    their consensus is only compared). ``fallback``: peer-routed but fewer than 3 validators may
    review it, so Layer B's decision applies at once. Any error on the peer branch is contained
    (rolled back to a savepoint) and Layer B decides. ``submitter``: the author's agent row, when the
    caller has read it already.
    """
    if decision.path == "layer_b" and not decision.shadow:
        return "layer_b"
    mode: Literal["live", "shadow"] = "live" if decision.path == "peer" else "shadow"
    emit("PeerRoutings")
    try:
        with uow.savepoint():  # an error here undoes only the peer branch
            assignment = assign_validators(uow, sub, mode=mode, layer_b_decision=layer_b_decision,
                                           layer_b_valid=layer_b_valid, now=now, submitter=submitter)
    except Exception:
        logger.exception("peer assignment failed; Layer B decides", extra={"submission_id": str(sub["id"])})
        metrics.add_metric(name="RoutingErrors", unit="Count", value=1)
        uow.submissions.add_trail(sub["id"], "assignment", {"mode": mode, "error": "assignment_failed"})
        return "layer_b" if mode == "shadow" else "fallback"
    if mode == "shadow":
        if not assignment.opened:
            uow.submissions.add_trail(sub["id"], "assignment",
                                       {"mode": mode, "assigned": 0, "reason": assignment.reason})
        return "layer_b"
    if not assignment.opened:
        uow.submissions.add_trail(sub["id"], "assignment",
                                   {"mode": mode, "assigned": 0, "reason": assignment.reason,
                                    "applied": "layer_b_decision"})
        return "fallback"
    uow.submissions.route_to_peers(sub["id"])
    return "peer"


# --- answering: a validator's open evaluations --------------------------------------------


def pending_evaluations(uow: UnitOfWork, principal: Principal, *, limit: int, after: tuple[datetime, str] | None,
                        now: datetime | None = None) -> list[dict[str, Any]]:
    """The caller's open evaluations with the content to judge (never the submitter's identity)."""
    assert principal.agent_id is not None
    now = now or uow.clock.now()
    with uow:
        return uow.evaluations.pending_for_validator(principal.agent_id, now, limit=limit, after=after)


@dataclass(frozen=True)
class EvaluationAnswer:
    decision: rules.Decision
    confidence: float
    reasoning: str
    safety_flagged: bool = False


@dataclass(frozen=True)
class Answered:
    evaluation: dict[str, Any]
    quorum_reached: bool
    outbox_ids: tuple[int, ...]


def answer_evaluation(uow: UnitOfWork, principal: Principal, evaluation_id: UUID, answer: EvaluationAnswer, *,
                      now: datetime | None = None) -> Answered:
    """Record a validator's answer; the answer that completes the quorum queues the consensus.

    404 unknown evaluation; 403 someone else's evaluation, or one about the caller's own
    submission; 409 already answered; 410 expired or cancelled (consensus reached without it).
    Answers to one submission are serialised by its advisory lock, so exactly one answer sees the
    quorum complete and queues exactly one consensus message.
    """
    assert principal.agent_id is not None
    now = now or uow.clock.now()
    with uow:
        # the submission's lock, the evaluation's row lock and the submission's author, in one statement
        evaluation = uow.evaluations.get_for_answer(evaluation_id)
        if evaluation is None:
            raise NotFound("evaluation not found")
        if evaluation["validator_id"] != principal.agent_id:
            raise Forbidden("this evaluation is assigned to another validator")
        if evaluation["submitter_id"] == principal.agent_id:
            raise Forbidden("validators never evaluate their own submissions")
        if evaluation["status"] == "answered":
            raise Conflict("this evaluation has been answered already",
                           details={"responded_at": evaluation["responded_at"].isoformat()})
        if evaluation["status"] != "pending" or evaluation["expires_at"] <= now:
            status = "expired" if evaluation["status"] == "pending" else evaluation["status"]
            raise Gone("this evaluation is closed", details={"status": status,
                                                              "expires_at": evaluation["expires_at"].isoformat()})
        updated = uow.evaluations.answer(evaluation_id, decision=answer.decision, confidence=answer.confidence,
                                         reasoning=answer.reasoning, safety_flagged=answer.safety_flagged, now=now)
        uow.submissions.add_trail(evaluation["submission_id"], "evaluation", {
            "evaluation_id": str(evaluation_id), "mode": evaluation["mode"],
            "tier": evaluation["tier_at_assignment"], "decision": answer.decision,
            "confidence": answer.confidence, "safety_flagged": answer.safety_flagged,
        })
        assert updated is not None  # pending under the row lock just taken
        quorum = updated.pop("answered") == rules.QUORUM
        outbox_ids: tuple[int, ...] = ()
        if quorum:
            uow.evaluations.mark_quorum(evaluation["submission_id"], now)
            outbox_ids = (uow.outbox.enqueue("consensus", {"submission_id": str(evaluation["submission_id"])},
                                         correlation_id=evaluation["submission_correlation_id"]),)
    assert updated is not None
    metrics.add_metric(name="EvaluationsAnswered", unit="Count", value=1)
    return Answered(updated, quorum, outbox_ids)
