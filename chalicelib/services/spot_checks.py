"""Spot checks: Layer B re-evaluates the real content of ~5 % of peer decisions.

Several waiting spot checks go to the Message Batches API together (half price, results within
hours, collected by a schedule); a single one, or any with a classifier that has no batches (the
offline stand-in), is classified at once. Disagreements are typed, queued for human review and
counted; an admin verdict settles the ground truth the validators are scored against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, cast, runtime_checkable
from uuid import UUID

from chalicelib.domain import layer_b, routing
from chalicelib.domain.consensus import Verdict
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.layer_b import BatchUnavailable, Classifier, ClassifierInput, ClassifierResult
from chalicelib.observability import logger, metrics
from chalicelib.services import layer_b_service
from chalicelib.services.consensus import apply_ground_truth
from chalicelib.services.unit_of_work import UnitOfWork

CONSUMER = "spot_check"
MAX_BATCH = 100
STALE_CLAIM = timedelta(minutes=10)
Outcome = Literal["completed", "batched", "not_waiting", "failed"]
SpotVerdict = Literal["peer_correct", "layer_b_correct"]


@runtime_checkable
class BatchClassifier(Protocol):
    """A classifier with the Message Batches API (the Anthropic adapter)."""

    def submit_batch(self, items: list[tuple[str, ClassifierInput]]) -> str: ...

    def collect_batch(self, batch_id: str) -> dict[str, ClassifierResult] | None: ...


@dataclass(frozen=True)
class _Claimed:
    id: UUID
    peer_outcome: str
    submission: dict[str, Any]  # id, kind, title, body, domain: the real content, as stored

    @property
    def custom_id(self) -> str:
        return self.id.hex

    @property
    def item(self) -> ClassifierInput:
        s = self.submission
        return ClassifierInput(kind=s["kind"], title=s["title"], body=s["body"], domain=s["domain"])


def _claimed(row: dict[str, Any]) -> _Claimed:
    # The real content, exactly as stored (defect 4 of the earlier system sent an empty string).
    if not row["title"].strip() or not row["body"].strip():
        raise ValueError("a spot check needs the submission's content")
    submission = {"id": row["submission_id"], "kind": row["kind"], "title": row["title"], "body": row["body"],
                  "domain": row["domain"]}
    return _Claimed(row["id"], row["peer_outcome"], submission)


def run_spot_check(uow: UnitOfWork, spot_check_id: UUID, message_key: str, classifier: Classifier, *,
                   now: datetime | None = None) -> Outcome:
    """The spot-check worker's use case for one message.

    Claims this spot check and, when the classifier has batches, every other one waiting: more
    than one goes out as a single Message Batch; otherwise they are classified one by one now. A
    spot check already claimed, batched or completed makes the message a no-op.
    """
    now = now or datetime.now(UTC)
    batching = isinstance(classifier, BatchClassifier)
    with uow:
        mine = uow.spot_checks.claim(now, ids=[spot_check_id], limit=1, stale_after=STALE_CLAIM)
        if not mine:
            return "not_waiting"
        # With the day's Layer B budget spent, the one-by-one path records why nothing was called.
        batching = batching and not layer_b_service.is_budget_exhausted(uow, now)
        others = uow.spot_checks.claim(now, limit=MAX_BATCH - 1, stale_after=STALE_CLAIM) if batching else []
    claimed = [_claimed(r) for r in [*mine, *others]]
    if batching and len(claimed) > 1:
        batch_id = _submit(uow, cast(BatchClassifier, classifier), claimed, now)
        if batch_id is not None:
            return "batched"
    outcome: Outcome = "failed"
    for spot in claimed:
        # Budgeted and recorded like every Layer B call; never from the cache: this is a second look.
        result = layer_b_service.classify_submission(uow, spot.submission, classifier,
                                                     purpose=layer_b.PURPOSE_SPOT_CHECK, use_cache=False)
        with uow:
            key = message_key if spot.id == spot_check_id else f"claimed-with:{message_key}:{spot.id}"
            if not uow.processed.first_delivery(CONSUMER, key):
                continue
            done = _record(uow, spot.id, result, now=datetime.now(UTC))
        if spot.id == spot_check_id:
            outcome = "completed" if done else "failed"
    return outcome


def _submit(uow: UnitOfWork, classifier: BatchClassifier, claimed: list[_Claimed], now: datetime) -> str | None:
    """Submit one batch; on failure give the claims back (the caller classifies them one by one)."""
    try:
        batch_id = classifier.submit_batch([(c.custom_id, c.item) for c in claimed])
    except BatchUnavailable as exc:
        logger.warning("spot-check batch unavailable; classifying one by one", extra={"error": str(exc)})
        metrics.add_metric(name="SpotCheckBatchFailures", unit="Count", value=1)
        return None
    with uow:
        uow.spot_checks.insert_batch(batch_id, items=len(claimed), now=now)
        uow.spot_checks.mark_batched([c.id for c in claimed], batch_id)
    metrics.add_metric(name="SpotCheckBatches", unit="Count", value=1)
    return batch_id


def poll_batches(uow: UnitOfWork, classifier: Classifier, *, now: datetime | None = None,
                 limit: int = 20) -> dict[str, int]:
    """The schedule: collect ended batches, and put stuck claims back in the queue.

    A batch still processing is left for the next run. A spot check the batch has no result for
    fails with that reason (it is not compared).
    """
    now = now or datetime.now(UTC)
    requeued = _requeue_stuck(uow, now)
    if not isinstance(classifier, BatchClassifier):
        return {"collected": 0, "still_processing": 0, "requeued": requeued}
    with uow:
        batches = [b["id"] for b in uow.spot_checks.processing_batches(limit=limit)]
    collected = processing = 0
    for batch_id in batches:
        try:
            results = classifier.collect_batch(batch_id)
        except Exception as exc:
            logger.warning("collecting a spot-check batch failed", extra={"batch_id": batch_id, "error": str(exc)})
            with uow:
                uow.spot_checks.note_poll(batch_id, type(exc).__name__)
            continue
        with uow:
            if uow.spot_checks.lock_batch(batch_id) is None:
                continue
            if results is None:
                uow.spot_checks.note_poll(batch_id, None)
                processing += 1
                continue
            for spot in uow.spot_checks.in_batch(batch_id):
                result = results.get(spot["id"].hex)
                if result is None:
                    uow.spot_checks.fail(spot["id"], error="no result in the batch", result=None, now=now)
                    continue
                layer_b_service.record_call(uow, submission_id=spot["submission_id"],
                                            purpose=layer_b.PURPOSE_SPOT_CHECK, result=result, batch=True, now=now)
                _record(uow, spot["id"], result, now=now)
            uow.spot_checks.end_batch(batch_id, now)
            collected += 1
    return {"collected": collected, "still_processing": processing, "requeued": requeued}


def _requeue_stuck(uow: UnitOfWork, now: datetime) -> int:
    """Claims left in ``submitting`` by a crashed worker go back to pending with a new message."""
    with uow:
        stuck = uow.spot_checks.release_stale_claims(now - STALE_CLAIM)
        for spot_check_id in stuck:
            uow.outbox.enqueue("spot_check", {"spot_check_id": str(spot_check_id)})
    return len(stuck)


def _record(uow: UnitOfWork, spot_check_id: UUID, result: ClassifierResult, *, now: datetime) -> bool:
    """Compare Layer B's re-evaluation with the peers, queue a disagreement, update the ground truth."""
    spot = uow.spot_checks.get(spot_check_id, for_update=True)
    if spot is None or spot["status"] not in routing.SPOT_CHECK_OPEN_STATUSES:
        return False
    submission_id: UUID = spot["submission_id"]
    if result.assessment is None:
        uow.spot_checks.fail(spot_check_id, error=result.error or "no assessment", result=result.to_dict(),
                              now=now)
        uow.submissions.add_trail(submission_id, "spot_check", {
            "spot_check_id": str(spot_check_id), "status": "failed", "error": result.error})
        metrics.add_metric(name="SpotCheckFailures", unit="Count", value=1)
        return False
    # Peer-routed submissions come from verified agents only; the thresholds are those routing used.
    sub = uow.submissions.get(submission_id)
    assert sub is not None
    in_force = layer_b_service.thresholds_in_force(uow, sub["domain"], result.assessment)
    decision: Verdict = layer_b.decide(result.assessment, "verified", in_force.thresholds)
    agrees, disagreement = routing.spot_check_agrees(spot["peer_outcome"], decision)
    uow.spot_checks.complete(spot_check_id, layer_b_decision=decision, result=result.to_dict(),
                              agrees=agrees, disagreement=disagreement, now=now)
    uow.evaluations.set_truth(submission_id, "truth_spot_check", decision)
    apply_ground_truth(uow, submission_id, now=now)
    if disagreement is not None:
        item_id = uow.review.enqueue(subject_type="submission", subject_id=submission_id, source="spot_check",
                                     reason=disagreement,
            details={"spot_check_id": str(spot_check_id), "peer_outcome": spot["peer_outcome"],
                     "layer_b_decision": decision},
            priority=2 if disagreement == "false_negative" else 1, dedup_key=f"spot_check:{spot_check_id}")
        if item_id is not None:
            uow.spot_checks.link_review_item(spot_check_id, item_id)
        metrics.add_metric(name="SpotCheckDisagreements", unit="Count", value=1)
    metrics.add_metric(name="SpotChecks", unit="Count", value=1)
    uow.submissions.add_trail(submission_id, "spot_check", {
        "spot_check_id": str(spot_check_id), "status": "completed", "peer_outcome": spot["peer_outcome"],
        "layer_b_decision": decision, "agrees": agrees, "disagreement": disagreement,
        "classifier": result.classifier, "model": result.model, "cost_usd_micros": result.cost_usd_micros,
    })
    return True


def record_verdict(uow: UnitOfWork, spot_check_id: UUID, verdict: SpotVerdict, *, notes: str | None, actor: str,
                   now: datetime | None = None) -> dict[str, Any]:
    """An admin settles a spot check: whose call was right becomes the submission's ground truth.

    ``layer_b_correct`` makes Layer B's re-evaluation the truth (a wrong peer call counts against
    each validator's F1); ``peer_correct`` makes the peers' outcome the truth. Given once: a second
    verdict is a Conflict, as is a verdict on a spot check that has no result yet.
    """
    now = now or datetime.now(UTC)
    with uow:
        spot = uow.spot_checks.get(spot_check_id, for_update=True)
        if spot is None:
            raise NotFound("spot check not found")
        if spot["verdict"] is not None:
            raise Conflict("this spot check has been reviewed already",
                           details={"verdict": spot["verdict"], "verdict_at": spot["verdict_at"].isoformat()})
        if spot["status"] != "completed":
            raise Conflict("this spot check has no Layer B result to judge", details={"status": spot["status"]})
        truth = spot["layer_b_decision"] if verdict == "layer_b_correct" else spot["peer_outcome"]
        uow.spot_checks.set_verdict(spot_check_id, verdict=verdict, notes=notes, actor=actor, now=now)
        uow.evaluations.set_truth(spot["submission_id"], "truth_admin", truth)
        changes = apply_ground_truth(uow, spot["submission_id"], now=now)
        if spot["review_item_id"] is not None:
            uow.spot_checks.resolve_review_item(spot["review_item_id"], resolution=verdict, notes=notes,
                                                 actor=actor, now=now)
        uow.submissions.add_trail(spot["submission_id"], "spot_check_verdict", {
            "spot_check_id": str(spot_check_id), "verdict": verdict, "truth": truth, "by": actor})
        updated = uow.spot_checks.get(spot_check_id)
    assert updated is not None
    return {**updated, "tier_changes": changes}


def list_spot_checks(uow: UnitOfWork, *, limit: int, before: tuple[datetime, str] | None, status: str | None,
                     disagreement_only: bool) -> list[dict[str, Any]]:
    with uow:
        return uow.spot_checks.page(limit=limit, before=before, status=status,
                                     disagreement_only=disagreement_only)


def spot_check_stats(uow: UnitOfWork, *, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Counts over the last ``days``: agreement, disagreements by type, verdicts, the false-negative rate."""
    now = now or datetime.now(UTC)
    with uow:
        row = uow.spot_checks.stats(now - timedelta(days=days))
    completed = int(row["completed"])
    return {
        "days": days,
        "total": int(row["total"]),
        "open": int(row["open"]),
        "completed": completed,
        "failed": int(row["failed"]),
        "agreements": int(row["agreements"]),
        "agreement_rate": int(row["agreements"]) / completed if completed else None,
        "disagreements": {k: int(row[k]) for k in ("false_negative", "false_positive", "missed_flag")},
        "false_negative_rate": int(row["confirmed_false_negative"]) / completed if completed else None,
        "verdicts": {k: int(row[k]) for k in ("peer_correct", "layer_b_correct")},
        "awaiting_verdict": int(row["awaiting_verdict"]),
    }
