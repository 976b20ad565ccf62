"""The consensus stage: one decision per peer-reviewed submission, and what follows from it.

Deciding applies the weighted 2/3 rule (``domain.consensus.decide``), falls back to the Layer B
decision stored at routing on escalation or quorum timeout, cancels what is still pending, scores
the validators against the best ground truth (admin > spot check > Layer B), moves their tiers,
pays them through the ledger and picks ~5 % of peer decisions for a spot check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast
from uuid import UUID

from chalicelib.domain import consensus as rules
from chalicelib.domain import routing, tiers
from chalicelib.domain.consensus import Verdict, Vote
from chalicelib.observability import logger, metrics
from chalicelib.services import economy
from chalicelib.services.guardrail import apply_verdict
from chalicelib.services.unit_of_work import UnitOfWork

CONSUMER = "consensus"
RESOLVE_BUDGET_S = 45.0
Cause = Literal["quorum", "timeout"]
Result = Literal["decided", "duplicate", "already_decided", "missing", "waiting"]


@dataclass(frozen=True)
class Finalized:
    result: Result
    outbox_ids: tuple[int, ...] = ()


def run_consensus(uow: UnitOfWork, submission_id: UUID, message_key: str, *, now: datetime | None = None) -> Result:
    """The consensus worker's use case: decide once, whatever the number of deliveries."""
    now = now or uow.clock.now()
    with uow:
        if not uow.processed.first_delivery(CONSUMER, message_key):
            return "duplicate"
        done = decide_submission(uow, submission_id, cause="quorum", now=now)
    return done.result


def decide_submission(uow: UnitOfWork, submission_id: UUID, *, cause: Cause, now: datetime) -> Finalized:
    """Decide a submission's peer review in the caller's transaction, under the submission's lock.

    A review decided before is left alone (``already_decided``). On the quorum path a review whose
    quorum is not complete yet waits (``waiting``); on the timeout path it is decided with what
    arrived. Pending evaluations are cancelled (quorum) or expired (timeout).
    """
    uow.evaluations.lock_submission(submission_id)
    review = uow.evaluations.get_review(submission_id, for_update=True)
    if review is None:
        logger.warning("consensus for a submission without a peer review", extra={"submission_id": str(submission_id)})
        return Finalized("missing")
    if review["status"] == "decided":
        return Finalized("already_decided")
    evaluations = uow.evaluations.for_submission(submission_id, for_update=True)
    answered = [e for e in evaluations if e["status"] == "answered"]
    pending = [e for e in evaluations if e["status"] == "pending"]
    if cause == "quorum" and len(answered) < rules.QUORUM and pending:
        return Finalized("waiting")

    votes = [
        Vote(validator_id=str(e["validator_id"]), tier=e["tier_at_assignment"], decision=e["decision"],
             confidence=float(e["confidence"]), safety_flagged=bool(e["safety_flagged"]))
        for e in answered
    ]
    result = rules.decide(votes)
    # Every validator row this decision may write, locked up front in one order (no deadlocks with
    # assignments and other decisions running concurrently).
    uow.validators.lock(sorted({e["validator_id"] for e in evaluations}, key=str))
    closed = uow.evaluations.close_pending(submission_id, status="expired" if cause == "timeout" else "cancelled",
                                           now=now)
    by_day: dict[Any, list[UUID]] = {}  # cancelled evaluations give their quota back, one statement a day
    for e in closed:
        if e["status"] == "cancelled":
            by_day.setdefault(e["assigned_at"], []).append(e["validator_id"])
    for assigned_at, validator_ids in by_day.items():
        uow.validators.release_quota(sorted(validator_ids, key=str), assigned_day=assigned_at, mode=review["mode"])

    live = review["mode"] == "live"
    layer_b_decision = cast(Verdict, review["layer_b_decision"])
    applied: Verdict | None = None
    decided_by: str | None = None
    if live:
        peer_decided = result.outcome in ("approved", "rejected")
        applied = cast(Verdict, result.outcome) if peer_decided else layer_b_decision
        decided_by = "peer" if peer_decided else "fallback"
        _apply_live(uow, submission_id, applied, decided_by=decided_by, reason=result.reason, now=now)
    elif result.reason != "below_quorum" and review["layer_b_valid"]:  # a Layer B error compares with nothing
        uow.evaluations.record_comparison(submission_id, outcome=result.outcome, layer_b_decision=layer_b_decision,
            agrees=routing.shadow_agrees(result.outcome, layer_b_decision), now=now)
    if result.reason == "safety_flag":
        uow.review.enqueue(subject_type="submission", subject_id=submission_id, source="consensus",
                           reason="safety_flag",
            details={"mode": review["mode"], "applied": applied}, priority=1,
            dedup_key=f"consensus-safety:{submission_id}")

    flags = uow.flags.current()
    spot_checked = (
        live and decided_by == "peer"
        and routing.is_spot_checked(str(submission_id), int(flags["SPOT_CHECK_PCT"]))
    )
    touched = {e["validator_id"] for e in evaluations}
    apply_ground_truth(uow, submission_id, now=now, review=review)
    uow.validators.refresh_response_rates(sorted(touched, key=str), locked=True)  # locked above
    _pay_rewards(uow, answered, [e for e in closed if e["status"] == "expired"])

    outbox_ids: tuple[int, ...] = ()
    if spot_checked:
        assert result.outcome in ("approved", "rejected")
        spot_id = uow.spot_checks.create(submission_id, peer_outcome=result.outcome, now=now)
        if spot_id is not None:
            outbox_ids = (uow.outbox.enqueue("spot_check", {"spot_check_id": str(spot_id)}),)

    # Latency: from the quorum-completing answer to this decision, all of its work done (the wall
    # clock, even when the caller passes an explicit `now`).
    latency_ms = None
    if review["quorum_reached_at"] is not None:
        elapsed = uow.clock.now() - review["quorum_reached_at"]
        latency_ms = max(0, round(elapsed.total_seconds() * 1000))
    uow.evaluations.record_decision(submission_id, {
        "cause": cause, "outcome": result.outcome, "reason": result.reason, "arithmetic": result.to_dict(),
        "votes": len(votes), "applied_verdict": applied, "decided_by": decided_by, "decided_at": now,
        "latency_ms": latency_ms, "spot_checked": spot_checked,
    })
    uow.submissions.add_trail(submission_id, "consensus", {
        "mode": review["mode"], "cause": cause, **result.to_dict(), "votes": len(votes),
        "assigned": review["assigned"], "applied": applied, "decided_by": decided_by,
        "layer_b_decision": layer_b_decision, "latency_ms": latency_ms,
        "closed_unanswered": len(closed), "spot_checked": spot_checked,
    })
    _emit(review["mode"], cause, result.outcome, decided_by, latency_ms)
    return Finalized("decided", outbox_ids)


def _apply_live(uow: UnitOfWork, submission_id: UUID, verdict: Verdict, *, decided_by: str, reason: str,
                now: datetime) -> None:
    changed = apply_verdict(uow, submission_id, verdict, decided_by=decided_by, now=now, route_path="peer")
    if not changed:
        logger.warning("peer decision for a submission no longer pending", extra={"submission_id": str(submission_id)})
        return
    if verdict == "flagged":
        uow.review.enqueue(subject_type="submission", subject_id=submission_id, source="consensus",
            reason="peer_fallback_flag", details={"consensus_reason": reason},
            dedup_key=f"consensus:{submission_id}")


def apply_ground_truth(uow: UnitOfWork, submission_id: UUID, *, now: datetime,
                       review: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Give the submission's answered evaluations the best ground truth known and rescore their validators.

    Truth, best first: an admin verdict, a spot check's Layer B decision, the Layer B decision at
    routing (only when Layer B produced an assessment: an error is no truth). Returns tier changes.
    ``review``: the submission's review row when the caller holds it locked (not read again).
    """
    if review is None:
        review = uow.evaluations.get_review(submission_id)
    if review is None:
        return []
    layer_b: Verdict | None = review["layer_b_decision"] if review["layer_b_valid"] else None
    truth = tiers.ground_truth(review["truth_admin"], review["truth_spot_check"], layer_b)
    if truth is None:
        return []
    source = "admin" if review["truth_admin"] else "spot_check" if review["truth_spot_check"] else "layer_b"
    scored = uow.evaluations.set_truth_on_answers(submission_id, truth=truth, source=source, now=now)
    return rescore_many(uow, scored, now=now)


def rescore(uow: UnitOfWork, validator_id: UUID, *, now: datetime) -> dict[str, Any] | None:
    """Recompute a validator's precision / recall / F1 over its last 100 scored evaluations and its tier.

    Every tier change is logged with the figures that caused it; returns the change, if any.
    """
    changes = rescore_many(uow, [validator_id], now=now)
    return changes[0] if changes else None


def rescore_many(uow: UnitOfWork, validator_ids: list[UUID], *, now: datetime) -> list[dict[str, Any]]:
    """rescore for several validators: their scoring inputs read (and their rows locked, in id order)
    in one statement, their scores written in one; returns the tier changes."""
    inputs = uow.validators.scoring_inputs(validator_ids, limit=tiers.SCORE_WINDOW)
    updates: list[dict[str, Any]] = []
    logged: list[tuple[UUID, rules.Tier, rules.Tier, dict[str, Any], float, int]] = []
    for v in inputs:
        scores = tiers.score(cast(list[tuple[rules.Decision, Verdict]], v["pairs"]))
        current = cast(rules.Tier, v["tier"])
        new = tiers.next_tier(current, scores.f1, v["scored"], v["since_change"])
        updates.append({"agent_id": v["agent_id"], "f1": scores.f1, "precision": scores.precision,
                        "recall": scores.recall, "scored": v["scored"], "tier": new, "tier_changed": new != current})
        if new == current:
            continue
        direction = "promotion" if rules.TIERS.index(new) > rules.TIERS.index(current) else "demotion"
        reason = f"{direction}: F1 {scores.f1:.3f} over {scores.n} recent of {v['scored']} scored evaluations"
        change = {"validator_id": str(v["agent_id"]), "old": current, "new": new, "reason": reason}
        logged.append((v["agent_id"], current, new, change, scores.f1, v["scored"]))
    uow.validators.update_scores_many(updates, now=now)
    for agent_id, old, new, change, f1, scored in logged:
        uow.validators.log_tier_change(agent_id, old=old, new=new, f1=f1, scored=scored, reason=change["reason"],
                                        now=now)
        metrics.add_metric(name="ValidatorTierChanges", unit="Count", value=1)
    return [change for *_, change, _, _ in logged]


def _pay_rewards(uow: UnitOfWork, answered: list[dict[str, Any]], expired: list[dict[str, Any]]) -> None:
    """Validation rewards through the ledger, one idempotent entry per evaluation (none for late ones),
    posted in one statement and recorded on the evaluations in one."""
    dues = [economy.RewardDue(e["id"], e["validator_id"], e["tier_at_assignment"], in_time)
            for e, in_time in [(e, True) for e in answered] + [(e, False) for e in expired]]
    paid = economy.pay_validation_rewards(uow, dues)
    uow.evaluations.record_rewards([(e["id"], paid[str(e["id"])]) for e in answered + expired])


def resolve_timeouts(uow: UnitOfWork, *, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """The per-minute schedule: expire overdue evaluations, then decide every review past its expiry.

    A live review whose quorum never formed falls back to the Layer B decision stored at routing
    (decided_by ``fallback``), so nothing peer-routed stays pending past expiry plus a minute.
    Each review is decided in its own transaction; a failure is logged and retried next minute.
    """
    now = now or uow.clock.now()
    started = time.monotonic()
    with uow:
        expired = uow.evaluations.expire_due(now, limit=5000)
        uow.validators.refresh_response_rates(sorted({e["validator_id"] for e in expired}, key=str))
    decided = failed = 0
    failed_ids: set[UUID] = set()
    # Batch after batch until nothing is due (or the run nears the schedule's one-minute cadence).
    while time.monotonic() - started < RESOLVE_BUDGET_S:
        with uow:
            due = [s for s in uow.evaluations.due_reviews(now, limit=limit + len(failed_ids))
                   if s not in failed_ids][:limit]
        if not due:
            break
        for submission_id in due:
            try:
                with uow:
                    done = decide_submission(uow, submission_id, cause="timeout", now=now)
                decided += done.result == "decided"
            except Exception:
                failed += 1
                failed_ids.add(submission_id)  # retried by the next run, not in a loop now
                logger.exception("quorum timeout resolution failed", extra={"submission_id": str(submission_id)})
    return {"expired": len(expired), "resolved": decided, "failed": failed}


def _emit(mode: str, cause: str, outcome: str, decided_by: str | None, latency_ms: int | None) -> None:
    metrics.add_metric(name="ConsensusDecisions", unit="Count", value=1)
    if decided_by == "peer":
        metrics.add_metric(name="PeerDecisions", unit="Count", value=1)
    if decided_by == "fallback":
        metrics.add_metric(name="PeerFallbacks", unit="Count", value=1)
    if mode == "shadow":
        metrics.add_metric(name="ShadowConsensus", unit="Count", value=1)
    if cause == "timeout":
        metrics.add_metric(name="QuorumFailures", unit="Count", value=1)
    if latency_ms is not None:
        metrics.add_metric(name="ConsensusLatencyMs", unit="Milliseconds", value=latency_ms)
    logger.info("consensus decided", extra={"mode": mode, "cause": cause, "outcome": outcome,
                                             "decided_by": decided_by, "latency_ms": latency_ms})
