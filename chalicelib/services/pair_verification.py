"""Before/after verification of a pair: compare its two processed photos and decide (approved,
rejected, or peer review, which queues it for human review). A failed comparison never approves."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from chalicelib.domain import hyperlocal
from chalicelib.domain.hyperlocal import PairPhoto, PairTask, PairVerification, PairVerifier
from chalicelib.observability import logger, metrics
from chalicelib.services.ports import BlobStore
from chalicelib.services.unit_of_work import UnitOfWork

PAIR_METRICS = {"approved": "PairsApproved", "rejected": "PairsRejected", "peer_review": "PairsPeerReview"}


def verify_pair(uow: UnitOfWork, store: BlobStore, pair_id: UUID, verifier: PairVerifier, *,
                now: datetime | None = None) -> str:
    """Compare the pair's processed photos and decide: approved, rejected or peer review (which
    queues it for human review). A failed comparison is never an approval."""
    with uow:
        pair = uow.evidence.get_pair(pair_id)
        if pair is None or pair["status"] != "verifying":
            return "duplicate"
        live = uow.evidence.live_in_pair(pair_id)
        mission = uow.hyperlocal.get_mission(pair["mission_id"])
    assert mission is not None
    before, after = live["before"], live["after"]
    template = mission["template"]
    task = PairTask(title=mission["title"], domain=str(template["domain"]), steps=tuple(template["steps"]))
    try:
        verification = verifier.verify(
            PairPhoto(store.get(before["processed_key"]), before["processed_content_type"]),
            PairPhoto(store.get(after["processed_key"]), after["processed_content_type"]),
            task,
        )
    except Exception as exc:
        logger.exception("pair verification failed", extra={"pair_id": str(pair_id)})
        verification = PairVerification(assessment=None, verifier=verifier.kind,
                                         error=f"verifier error: {type(exc).__name__}")
    decision = hyperlocal.decide_pair(verification)
    with uow:
        if not uow.evidence.decide_pair(pair_id, status=decision, verification=verification.to_dict(),
                                         now=now or datetime.now(UTC)):
            return "duplicate"
        if decision == "peer_review":
            uow.review.enqueue(subject_type="evidence", subject_id=after["id"], source="pair_verification",
                reason="before/after verification was not conclusive" if verification.assessment
                else "before/after verification failed",
                details={"pair_id": str(pair_id), "before_id": str(before["id"]), "after_id": str(after["id"]),
                         **verification.to_dict()},
                dedup_key=f"pair-verification:{pair_id}",
            )
    metrics.add_metric(name=PAIR_METRICS[decision], unit="Count", value=1)
    logger.info("pair verified", extra={"pair_id": str(pair_id), "decision": decision,
                                        "verifier": verification.verifier})
    return decision
