"""Peer validation use cases: the peer branch of routing, the validator pool, evaluations, reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.domain import collusion, gates, routing
from chalicelib.domain import consensus as rules
from chalicelib.domain.consensus import LatLng
from chalicelib.domain.economy import HARDSHIP_THRESHOLD
from chalicelib.domain.errors import Conflict, Forbidden, Gone, NotFound, ValidationFailed
from chalicelib.domain.principal import Principal
from chalicelib.observability import emit, logger, metrics
from chalicelib.services.assignment import assign_validators
from chalicelib.services.unit_of_work import UnitOfWork

MAX_REGIONS = 3
Handler = Literal["peer", "layer_b", "fallback"]


# --- routing: the peer branch of the guardrail stage -----------------------------------------


def begin_review(
    uow: UnitOfWork, sub: dict[str, Any], decision: routing.RouteDecision, layer_b_decision: str, *,
    layer_b_valid: bool, now: datetime,
) -> Handler:
    """After Layer B and routing: who decides this submission now.

    ``peer``: validators were assigned and the submission waits for their consensus. ``layer_b``:
    Layer B's decision applies (the Layer B path, and shadow mode, where peers are assigned too and
    their consensus is only compared). ``fallback``: peer-routed but fewer than 3 validators may
    review it, so Layer B's decision applies at once. Any error on the peer branch is contained
    (rolled back to a savepoint) and Layer B decides.
    """
    if decision.path == "layer_b" and not decision.shadow:
        return "layer_b"
    mode: Literal["live", "shadow"] = "live" if decision.path == "peer" else "shadow"
    emit("PeerRoutings")
    try:
        with uow.savepoint():  # an error here undoes only the peer branch
            assignment = assign_validators(uow, sub, mode=mode, layer_b_decision=layer_b_decision,
                                           layer_b_valid=layer_b_valid, now=now)
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


# --- the validator pool ------------------------------------------------------------------------


def backfill(uow: UnitOfWork, *, now: datetime | None = None) -> dict[str, Any]:
    """Every active verified agent joins the pool as an apprentice; running it again adds only newcomers."""
    now = now or datetime.now(UTC)
    settings = get_settings()
    with uow:
        added = uow.validators.backfill(verified_before=now - timedelta(days=settings.trust_verified_min_age_days),
            min_approvals=settings.trust_verified_min_approvals, now=now)
        pool = uow.validators.count()
    logger.info("validator pool backfilled", extra={"added": len(added), "pool": pool["total"]})
    return {"added": len(added), "added_ids": [str(a) for a in added], "pool_size": pool["total"],
            "active": pool["active"]}


def _member(uow: UnitOfWork, agent_id: UUID, *, for_update: bool = False) -> dict[str, Any]:
    validator = uow.validators.get(agent_id, for_update=for_update)
    if validator is None:
        raise NotFound("not in the validator pool", details={"agent_id": str(agent_id)})
    return validator


def validator_stats(uow: UnitOfWork, agent_id: UUID, *, now: datetime | None = None) -> dict[str, Any]:
    """A validator's tier, scores, response rate, quota today, regions, counts and tier history."""
    now = now or datetime.now(UTC)
    quota = get_settings().validator_daily_quota
    shadow_quota = get_settings().validator_shadow_daily_quota
    with uow:
        v = _member(uow, agent_id)
        today = v["evaluations_today"] if v["quota_day"] == now.date() else 0
        shadow_today = v["shadow_evaluations_today"] if v["shadow_quota_day"] == now.date() else 0
        return {
            "agent_id": v["agent_id"], "tier": v["tier"], "f1": v["f1_score"], "precision": v["precision_score"],
            "recall": v["recall_score"], "scored_evaluations": v["scored_evaluations"],
            "response_rate": v["response_rate"], "daily_quota": quota, "evaluations_today": today,
            "quota_left": max(0, quota - today),
            "shadow_daily_quota": shadow_quota, "shadow_evaluations_today": shadow_today,
            "suspended": _is_suspended(v, now), "suspension_reason": v["suspension_reason"],
            "suspended_until": v["suspended_until"],
            "home_regions": uow.validators.regions(agent_id),
            "evaluations": uow.validators.evaluation_counts(agent_id),
            "tier_history": uow.validators.tier_history(agent_id),
            "joined_at": v["joined_at"], "tier_changed_at": v["tier_changed_at"],
        }


def _is_suspended(v: dict[str, Any], now: datetime) -> bool:
    return v["suspended_at"] is not None and (v["suspended_until"] is None or v["suspended_until"] > now)


def set_regions(uow: UnitOfWork, agent_id: UUID, regions: Sequence[tuple[LatLng, str]]) -> list[dict[str, Any]]:
    """Replace the validator's home regions (at most 3, valid coordinates)."""
    if len(regions) > MAX_REGIONS:
        raise ValidationFailed(f"at most {MAX_REGIONS} home regions",
                               details=[{"field": "regions", "message": f"at most {MAX_REGIONS}"}])
    for (lat, lng), _ in regions:
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValidationFailed("coordinates out of range", details=[{"field": "regions", "message": "lat/lng"}])
    with uow:
        _member(uow, agent_id, for_update=True)  # the row lock serialises concurrent replacements
        uow.validators.replace_regions(agent_id, regions)
        return uow.validators.regions(agent_id)


def set_suspension(uow: UnitOfWork, agent_id: UUID, *, suspended: bool, reason: str | None, until: datetime | None,
                   actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Suspend (no new assignments; pending evaluations may still be answered) or reinstate a validator."""
    now = now or datetime.now(UTC)
    if suspended and not reason:
        raise ValidationFailed("a suspension needs a reason", details=[{"field": "reason", "message": "required"}])
    if until is not None and until <= now:
        raise ValidationFailed("until must be in the future", details=[{"field": "until", "message": "past"}])
    with uow:
        _member(uow, agent_id, for_update=True)
        uow.validators.set_suspension(agent_id, suspended=suspended, reason=reason, until=until, now=now)
    logger.info("validator suspension changed", extra={"agent_id": str(agent_id), "suspended": suspended,
                                                         "actor": actor})
    return validator_stats(uow, agent_id, now=now)


def reset_quota(uow: UnitOfWork, agent_id: UUID, *, modes: Sequence[str], actor: str, reason: str,
                now: datetime | None = None) -> dict[str, Any]:
    """An operator gives a validator today's quota back (live, shadow or both); audited (who, why, before)."""
    now = now or datetime.now(UTC)
    with uow:
        _member(uow, agent_id, for_update=True)
        before = uow.validators.reset_today(agent_id, modes=modes, actor=actor, reason=reason, now=now)
    logger.info("validator quota reset", extra={"agent_id": str(agent_id), "modes": list(modes), "actor": actor})
    return {**before, "modes": list(modes), "stats": validator_stats(uow, agent_id, now=now)}


def reset_quotas(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """The daily schedule: counters of earlier days go back to zero (assignment also ignores them)."""
    with uow:
        return uow.validators.reset_quotas(now=now or datetime.now(UTC))


def list_validators(uow: UnitOfWork, *, limit: int, before: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    with uow:
        return uow.validators.page(limit=limit, before=before)


# --- evaluations -------------------------------------------------------------------------------


def pending_evaluations(uow: UnitOfWork, principal: Principal, *, limit: int, after: tuple[datetime, str] | None,
                        now: datetime | None = None) -> list[dict[str, Any]]:
    """The caller's open evaluations with the content to judge (never the submitter's identity)."""
    assert principal.agent_id is not None
    now = now or datetime.now(UTC)
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
    now = now or datetime.now(UTC)
    with uow:
        evaluation = uow.evaluations.get_evaluation(evaluation_id)
        if evaluation is None:
            raise NotFound("evaluation not found")
        if evaluation["validator_id"] != principal.agent_id:
            raise Forbidden("this evaluation is assigned to another validator")
        sub = uow.submissions.get(evaluation["submission_id"])
        assert sub is not None
        if sub["agent_id"] == principal.agent_id:
            raise Forbidden("validators never evaluate their own submissions")
        uow.evaluations.lock_submission(evaluation["submission_id"])
        evaluation = uow.evaluations.get_evaluation(evaluation_id, for_update=True)
        assert evaluation is not None
        if evaluation["status"] == "answered":
            raise Conflict("this evaluation has been answered already",
                           details={"responded_at": evaluation["responded_at"].isoformat()})
        if evaluation["status"] != "pending" or evaluation["expires_at"] <= now:
            status = "expired" if evaluation["status"] == "pending" else evaluation["status"]
            raise Gone("this evaluation is closed", details={"status": status,
                                                              "expires_at": evaluation["expires_at"].isoformat()})
        uow.evaluations.answer(evaluation_id, decision=answer.decision, confidence=answer.confidence,
                                reasoning=answer.reasoning, safety_flagged=answer.safety_flagged, now=now)
        uow.submissions.add_trail(evaluation["submission_id"], "evaluation", {
            "evaluation_id": str(evaluation_id), "mode": evaluation["mode"],
            "tier": evaluation["tier_at_assignment"], "decision": answer.decision,
            "confidence": answer.confidence, "safety_flagged": answer.safety_flagged,
        })
        quorum = uow.evaluations.answered_count(evaluation["submission_id"]) == rules.QUORUM
        outbox_ids: tuple[int, ...] = ()
        if quorum:
            uow.evaluations.mark_quorum(evaluation["submission_id"], now)
            outbox_ids = (uow.outbox.enqueue("consensus", {"submission_id": str(evaluation["submission_id"])},
                                         correlation_id=sub["correlation_id"]),)
        updated = uow.evaluations.get_evaluation(evaluation_id)
    assert updated is not None
    metrics.add_metric(name="EvaluationsAnswered", unit="Count", value=1)
    return Answered(updated, quorum, outbox_ids)


# --- reports -----------------------------------------------------------------------------------


def shadow_report(uow: UnitOfWork, *, days: int = 7, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    with uow:
        agreements, comparisons = uow.evaluations.shadow_agreement(now - timedelta(days=days))
        rows = uow.evaluations.shadow_matrix(now - timedelta(days=days))
    return {
        "days": days, "comparisons": comparisons, "agreements": agreements,
        "agreement": agreements / comparisons if comparisons else None,
        "matrix": [{"consensus": r["consensus_outcome"], "layer_b": r["layer_b_decision"], "count": int(r["n"]),
                    "agree": int(r["agree"])} for r in rows],
    }


def collusion_report(uow: UnitOfWork, *, days: int, against_truth: bool, now: datetime | None = None) -> dict[str, Any]:
    """Validator pairs agreeing on more than 90 % of 20+ shared reviews in the window.

    ``against_truth``: count only the shared reviews with a ground truth where at least one of the
    pair was wrong (honest, accurate validators agree often; they rarely err together).
    """
    now = now or datetime.now(UTC)
    with uow:
        rows = uow.evaluations.shared_reviews(now - timedelta(days=days))
    reviews = [(str(r["submission_id"]), str(r["validator_id"]), r["decision"]) for r in rows]
    truth = {str(r["submission_id"]): r["truth"] for r in rows if r["truth"] is not None}
    pairs = collusion.collusive_pairs(reviews, ground_truth=truth if against_truth else None)
    return {
        "days": days, "against_truth": against_truth, "reviews": len(reviews),
        "min_shared": collusion.MIN_SHARED_REVIEWS, "threshold": collusion.AGREEMENT_THRESHOLD,
        "pairs": [{"a": p.a, "b": p.b, "shared": p.shared, "agreement": p.agreement} for p in pairs],
    }


def _economy(uow: UnitOfWork, now: datetime) -> tuple[list[Fraction | None], str]:
    """From the hourly economy snapshots: the day's last faucet/sink ratio for each of the last 7
    days (newest first; None for a day without one, or an idle day).

    A day whose faucet paid out while nothing was sunk has no finite ratio and counts as out of
    range. Without the snapshots table (or rows) the economy is unknown, never "in range".
    """
    rows = uow.economy.daily_ratios(now - timedelta(days=gates.WINDOW_DAYS))
    if rows is None:
        return [None] * gates.WINDOW_DAYS, "no economy snapshots table"
    by_day: dict[Any, Fraction | None] = {}
    for r in rows:
        if r["ratio_state"] == "defined":
            by_day[r["day"]] = Fraction(str(r["ratio"]))
        elif r["ratio_state"] == "no_sink":
            by_day[r["day"]] = gates.NO_SINK
        else:
            by_day[r["day"]] = None
    ratios = [by_day.get((now - timedelta(days=offset)).date()) for offset in range(gates.WINDOW_DAYS)]
    return ratios, f"{len(by_day)} of {gates.WINDOW_DAYS} days with an economy snapshot"


def decision_gates(uow: UnitOfWork, *, now: datetime | None = None) -> dict[str, Any]:
    """The production-shift gates and seed 001's go/no-go, computed from the data now."""
    now = now or datetime.now(UTC)
    window_start = now - timedelta(days=gates.WINDOW_DAYS)
    with uow:
        flags = uow.flags.load()
        pool = uow.validators.count()
        quality = uow.validators.pool_quality()
        spot = uow.spot_checks.stats(window_start)
        rounds = uow.evaluations.consensus_stats(window_start)
        agreements, comparisons = uow.evaluations.shadow_agreement(window_start)
        ratios, economy_source = _economy(uow, now)
        # Hardship now, counted as the economy snapshots count it: AI agents' balances below 10 credits.
        hardship = uow.economy.hardship_now(HARDSHIP_THRESHOLD)
        dead = {"n": uow.outbox.dead_since(window_start)}
    first = spot["first_completed"]
    days_covered = 0.0 if first is None else min(gates.WINDOW_DAYS, (now - first).total_seconds() / 86_400)
    latencies = rounds["latencies_ms"]
    report = gates.GateReport((
        gates.traffic_gate(int(flags["PEER_VALIDATION_TRAFFIC_PCT"])),
        gates.false_negative_gate(int(spot["confirmed_false_negative"]), int(spot["completed"]), days_covered),
        gates.economy_gate(ratios),
        gates.pool_gate(pool["active"]),
        gates.consensus_latency_gate(gates.percentile(latencies, 95), len(latencies)),
        gates.hardship_gate(int(hardship["poor"]), int(hardship["agents"])),
    ))
    answered, expired = quality["answered"], quality["expired"]
    verdict = gates.go_no_go(
        agreements=agreements, comparisons=comparisons,
        average_f1=None if quality["avg_f1"] is None else Fraction(str(quality["avg_f1"])),
        response_rate=gates.rate(answered, answered + expired),
        quorum_timeouts=rounds["timeouts"], consensus_rounds=rounds["rounds"],
        active_validators=pool["active"], dead_letters=int(dead["n"]),
    )
    return {
        "computed_at": now, "window_days": gates.WINDOW_DAYS, **report.to_dict(), "go_no_go": verdict.to_dict(),
        "figures": {
            "traffic_pct": flags["PEER_VALIDATION_TRAFFIC_PCT"], "peer_validation_enabled":
                flags["PEER_VALIDATION_ENABLED"], "pool": pool, "shadow_agreements": agreements,
            "shadow_comparisons": comparisons, "consensus_rounds": rounds["rounds"],
            "quorum_timeouts": rounds["timeouts"], "consensus_p50_ms": gates.percentile(latencies, 50),
            "consensus_p95_ms": gates.percentile(latencies, 95), "decided_by": rounds["by_decided_by"],
            "spot_checks_completed": int(spot["completed"]),
            "false_negatives": int(spot["confirmed_false_negative"]), "economy": economy_source,
            "average_f1": quality["avg_f1"], "answered_7d": answered, "expired_7d": expired,
        },
    }
