"""Use case of the guardrail stage: run Layer B on a pending submission, route it, apply the decision."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.domain import layer_b, routing
from chalicelib.domain.layer_b import Classifier, ClassifierResult
from chalicelib.domain.trust import trust_tier
from chalicelib.observability import emit, logger, metrics
from chalicelib.services import compliance, layer_b_service
from chalicelib.services.evaluations import begin_review
from chalicelib.services.unit_of_work import UnitOfWork

CONSUMER = "guardrail"
Outcome = Literal["decided", "duplicate", "not_pending", "missing"]


def run_guardrail(
    uow: UnitOfWork, submission_id: UUID, message_key: str, classifier: Classifier, *, now: datetime | None = None
) -> Outcome:
    """Classify with Layer B outside any transaction, then decide in one transaction.

    Idempotent: the message key is recorded with the effect, and only a pending submission without a
    Layer B verdict changes, so a duplicate delivery changes nothing.
    """
    with uow:
        sub = uow.submissions.get_with_stage(submission_id, "layer_b")
        if sub is None:
            logger.warning("guardrail message for an unknown submission", extra={"submission_id": str(submission_id)})
            return "missing"
        if sub.pop("has_stage") or sub["status"] != "pending":
            return "not_pending"
    # The model call may take seconds: no locks are held meanwhile.
    result = layer_b_service.classify_for_guardrail(uow, sub, classifier, now=now)
    now = now or uow.clock.now()
    with uow:
        if not uow.processed.first_delivery(CONSUMER, message_key):
            return "duplicate"
        sub = uow.submissions.get_with_stage(submission_id, "layer_b", for_update=True)
        assert sub is not None
        if sub.pop("has_stage") or sub["status"] != "pending":
            return "not_pending"
        apply_layer_b(uow, sub, result, now)
    _emit(result)
    return "decided"


def apply_layer_b(uow: UnitOfWork, sub: dict[str, object], result: ClassifierResult, now: datetime) -> None:
    """Store the Layer B verdict and the routing decision; on the Layer B path, decide now."""
    settings = get_settings()
    submission_id = sub["id"]
    assert isinstance(submission_id, UUID)
    agent = uow.agents.get_agent(sub["agent_id"])  # type: ignore[arg-type]
    assert agent is not None
    trust = trust_tier(
        created_at=agent["created_at"], approvals=agent["approvals_count"], now=now,
        min_age_days=settings.trust_verified_min_age_days,
        min_approvals=settings.trust_verified_min_approvals,
    )
    in_force = layer_b_service.thresholds_in_force(uow, sub.get("domain"), result.assessment)
    verdict = layer_b.decide(result.assessment, trust, in_force.thresholds)
    layer_b_entry = {**result.to_dict(), "trust": trust, "decision": verdict, "thresholds": in_force.to_dict()}
    flags = uow.flags.current()
    decision = routing.route(
        routing.RoutingInput(
            submission_id=str(submission_id),
            agent_verified=trust == "verified",
            is_mission=sub.get("mission_id") is not None,
            peer_enabled=bool(flags["PEER_VALIDATION_ENABLED"]),
            traffic_pct=int(flags["PEER_VALIDATION_TRAFFIC_PCT"]),
            agent_compliance_ok=compliance.compliance_ok(uow, sub["agent_id"], now),  # type: ignore[arg-type]
        )
    )
    uow.submissions.add_trails(submission_id, [  # both entries in one statement, in this order
        ("layer_b", layer_b_entry),
        ("routing", {"path": decision.path, "bucket": decision.bucket, "reason": decision.reason,
                     "shadow": decision.shadow, "flags": flags}),
    ])
    handler = begin_review(uow, sub, decision, verdict, layer_b_valid=result.assessment is not None, now=now,
                           submitter=agent)
    if handler == "peer":
        return  # validators decide; the consensus stage applies their decision (Layer B's on timeout)
    apply_verdict(uow, submission_id, verdict, decided_by=handler, now=now, route_path=decision.path)
    if verdict == "flagged":
        uow.review.enqueue(subject_type="submission", subject_id=submission_id, source="layer_b",
            reason="layer_b_error" if result.assessment is None else "layer_b_flag",
            details={"error": result.error, "trust": trust}, dedup_key=f"layer_b:{submission_id}",
        )


def apply_verdict(
    uow: UnitOfWork, submission_id: UUID, verdict: str, *, decided_by: str, now: datetime,
    route_path: str | None = None,
) -> bool:
    """Move a pending submission to its terminal status; approvals count towards the agent's trust."""
    changed = uow.submissions.decide(submission_id, status=verdict, decided_by=decided_by, now=now,
                                     route_path=route_path
    )
    if changed and verdict == "approved":
        uow.submissions.count_approval(submission_id)
    if changed:
        emit("Decisions", Path=decided_by)
    return changed


def _emit(result: ClassifierResult) -> None:
    metrics.add_metric(name="LayerBCalls", unit="Count", value=1)
    metrics.add_metric(name="LayerBCostMicroUsd", unit="Count", value=result.cost_usd_micros)
