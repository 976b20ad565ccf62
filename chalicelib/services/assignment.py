"""Assign validators to a submission on the guardrail stage (runs inside the stage's transaction)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.domain import consensus as rules
from chalicelib.observability import metrics
from chalicelib.services.compliance import compliant_agents
from chalicelib.services.unit_of_work import UnitOfWork

Mode = Literal["live", "shadow"]


@dataclass(frozen=True)
class Assignment:
    """Who reviews the submission. Empty ``evaluation_ids`` with ``opened`` False: nobody could."""

    evaluation_ids: tuple[UUID, ...]
    opened: bool  # a review is open (now or from an earlier delivery)
    repeated: bool  # the review had been opened before: nothing was assigned this time
    reason: str


def _compliant_picks(
    uow: UnitOfWork, candidates: list[rules.Candidate], request: rules.AssignmentRequest, *, quota: int,
    now: datetime,
) -> list[rules.Candidate]:
    """The rule's picks, leaving out validators whose compliance score fell below 60 (they lose
    validator duty); only picked validators are scored, and the rule runs again without those out."""
    verdicts: dict[str, bool] = {}
    while True:
        picks = rules.assign(candidates, request, daily_quota=quota)
        unknown = [UUID(p.validator_id) for p in picks if p.validator_id not in verdicts]
        if unknown:  # every new pick scored in one statement
            verdicts.update({str(k): ok for k, ok in compliant_agents(uow, unknown, now).items()})
        if all(verdicts[p.validator_id] for p in picks):
            return picks
        candidates = [replace(c, suspended=True) if verdicts.get(c.validator_id) is False else c
                      for c in candidates]


def assign_validators(
    uow: UnitOfWork, sub: dict[str, Any], *, mode: Mode, layer_b_decision: str, layer_b_valid: bool,
    now: datetime, submitter: dict[str, Any] | None = None,
) -> Assignment:
    """Over-assign up to 6 validators to a submission, or none when fewer than 3 may review it.

    Idempotent: a submission is assigned once (a redelivered message finds the open review and
    assigns nobody new). Each pick counts against the validator's daily quota atomically; if a
    race leaves fewer than the quorum, the reservations are given back and nobody is assigned.
    ``submitter``: the author's agent row when the caller has it (read otherwise).
    """
    submission_id: UUID = sub["id"]
    existing = uow.evaluations.get_review(submission_id)
    if existing is not None:
        ids = tuple(e["id"] for e in uow.evaluations.for_submission(submission_id))
        return Assignment(ids, opened=True, repeated=True, reason="already_assigned")

    settings = get_settings()
    if submitter is None:
        submitter = uow.agents.get_agent(sub["agent_id"])
    assert submitter is not None and submitter["id"] == sub["agent_id"]
    location = (float(sub["latitude"]), float(sub["longitude"])) if sub.get("latitude") is not None else None
    request = rules.AssignmentRequest(
        submission_id=str(submission_id),
        submitter_id=str(submitter["id"]),
        submitter_owner_id=str(submitter["owner_id"]),
        recent_validator_ids=frozenset(uow.evaluations.recent_reviewers(submitter["id"], exclude=submission_id,
                                                                        submissions=rules.RECENT_SUBMISSIONS)),
        location=location,
    )
    # Shadow work draws on its own quota (VALIDATOR_SHADOW_DAILY_QUOTA): it can never starve live work.
    quota = settings.validator_daily_quota if mode == "live" else settings.validator_shadow_daily_quota
    picks = _compliant_picks(uow, uow.validators.candidates(today=now, mode=mode), request,
                             quota=quota, now=now) if quota > 0 else []
    if not picks:
        metrics.add_metric(name="InsufficientValidators", unit="Count", value=1)
        return Assignment((), opened=False, repeated=False, reason="insufficient_validators")

    reserved = uow.validators.reserve_quota([UUID(p.validator_id) for p in picks], now=now, quota=quota, mode=mode)
    kept = [p for p in picks if UUID(p.validator_id) in reserved]
    if len(kept) < rules.QUORUM:
        uow.validators.release_quota(sorted(reserved, key=str), assigned_day=now, mode=mode)
        metrics.add_metric(name="InsufficientValidators", unit="Count", value=1)
        return Assignment((), opened=False, repeated=False, reason="insufficient_validators")

    expires_at = now + timedelta(seconds=get_settings().evaluation_expiry_s)
    uow.evaluations.open_review(submission_id, mode=mode, layer_b_decision=layer_b_decision,
                                 layer_b_valid=layer_b_valid, assigned=len(kept), now=now, expires_at=expires_at)
    new_ids = uow.evaluations.insert_evaluations(submission_id, [(UUID(p.validator_id), p.tier) for p in kept],
                                                 mode=mode, now=now,
        expires_at=expires_at,
    )
    nearby = sum(1 for p in kept if location is not None and any(
        rules.distance_km(home, location) <= rules.NEARBY_KM for home in p.home_regions))
    uow.submissions.add_trail(submission_id, "assignment", {
        "mode": mode,
        "assigned": len(new_ids),
        "quorum": rules.QUORUM,
        "tiers": sorted(p.tier for p in kept),
        "nearby": nearby,
        "expires_at": expires_at.isoformat(),
        "evaluation_ids": [str(i) for i in new_ids],
    })
    metrics.add_metric(name="EvaluationsAssigned", unit="Count", value=len(new_ids))
    return Assignment(tuple(new_ids), opened=True, repeated=False, reason="assigned")
