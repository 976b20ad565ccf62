"""Use cases of attestations: humans confirm a problem, report it resolved or not found.

One attestation per human per problem: a second one is 409 DUPLICATE and changes nothing (the
earlier system silently overwrote it). The side effects are applied in the same transaction as
the attestation that triggers them, each once per problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from chalicelib.config import get_settings
from chalicelib.domain import hyperlocal, socks
from chalicelib.domain.errors import Conflict, Duplicate, Forbidden, NotFound
from chalicelib.domain.principal import Principal
from chalicelib.observability import logger, metrics
from chalicelib.services import agents as agent_service
from chalicelib.services.unit_of_work import UnitOfWork

_REVIEW_REASONS = {
    "review_resolved": "3 or more humans report the problem resolved",
    "review_not_found": "3 or more humans could not find the problem",
}


@dataclass(frozen=True)
class AttestationOutcome:
    attestation: dict[str, Any]
    counts: dict[str, int]
    effects_applied: list[str]


def attest(uow: UnitOfWork, human: Principal, problem_id: UUID, status: str, note: str | None, *,
           now: datetime | None = None) -> AttestationOutcome:
    """Record the human's attestation and apply the side effects its count calls for."""
    assert human.agent_id is not None
    agent_service.enforce_rate_limit(uow, f"attestations:{human.agent_id}", get_settings().attestations_per_hour,
                                     window=timedelta(hours=1))
    now = now or datetime.now(UTC)
    with uow:
        problem = uow.hyperlocal.get_problem(problem_id, for_update=True)
        if problem is None:
            raise NotFound("problem not found")
        if problem["status"] != "approved":
            raise Conflict("only published problems take attestations", details={"status": problem["status"]})
        if uow.socks.owner_of(problem["agent_id"]) == human.owner_id:
            raise Forbidden("conflict of interest: this problem was submitted by an agent of your own owner")
        row = uow.hyperlocal.insert_attestation(problem_id=problem_id, human_id=human.agent_id,
                                                 status=status, note=note, now=now)
        if row is None:
            earlier = uow.hyperlocal.find_attestation(problem_id, human.agent_id)
            raise Duplicate(
                "you have already attested this problem; withdraw it first to change it",
                details={"status": earlier["status"] if earlier else None},
            )
        counts = uow.hyperlocal.attestation_counts(problem_id)
        # Effects count distinct owners: three identities of one owner are one voice.
        owner_counts = socks.distinct_owner_counts(uow.socks.attester_owners(problem_id))
        applied = _apply_effects(uow, problem, counts, owner_counts)
    metrics.add_metric(name="Attestations", unit="Count", value=1)
    return AttestationOutcome(attestation=row, counts=counts, effects_applied=applied)


def _apply_effects(uow: UnitOfWork, problem: dict[str, Any], counts: dict[str, int],
                   owner_counts: dict[str, int]) -> list[str]:
    applied: list[str] = []
    problem_id = problem["id"]
    for effect in hyperlocal.due_effects(owner_counts):
        if effect == "urgency_boost":
            new = hyperlocal.boosted_urgency(float(problem["urgency"]))
            if not uow.hyperlocal.record_effect(problem_id, effect,
                                                 {"from": problem["urgency"], "to": new, "counts": counts,
                                                  "distinct_owners": owner_counts}):
                continue
            uow.hyperlocal.set_urgency(problem_id, new)
        else:
            if not uow.hyperlocal.record_effect(problem_id, effect,
                                                {"counts": counts, "distinct_owners": owner_counts}):
                continue
            uow.review.enqueue(subject_type="problem", subject_id=problem_id, source="attestations",
                reason=_REVIEW_REASONS[effect], details={"counts": counts},
                dedup_key=f"attestations:{problem_id}:{effect}",
            )
        applied.append(effect)
        logger.info("attestation effect applied", extra={"problem_id": str(problem_id), "effect": effect})
    return applied


def withdraw(uow: UnitOfWork, human: Principal, problem_id: UUID) -> dict[str, int]:
    """Delete the caller's own attestation. Effects already applied stay applied."""
    assert human.agent_id is not None
    with uow:
        problem = uow.hyperlocal.get_problem(problem_id, for_update=True)
        if problem is None:
            raise NotFound("problem not found")
        if uow.hyperlocal.delete_attestation(problem_id, human.agent_id) is None:
            raise NotFound("you have not attested this problem")
        return uow.hyperlocal.attestation_counts(problem_id)


def summary(uow: UnitOfWork, caller: Principal, problem_id: UUID) -> dict[str, Any]:
    """Counts by status, the problem's urgency, the effects applied and the caller's own attestation.

    An unpublished problem is visible only to admins and to identities of its own owner (404 to others,
    as if it did not exist)."""
    with uow:
        problem = uow.hyperlocal.get_problem(problem_id)
        if problem is None:
            raise NotFound("problem not found")
        if problem["status"] != "approved" and caller.role != "admin" and (
                caller.owner_id is None or uow.socks.owner_of(problem["agent_id"]) != caller.owner_id):
            raise NotFound("problem not found")
        counts = uow.hyperlocal.attestation_counts(problem_id)
        mine = (uow.hyperlocal.find_attestation(problem_id, caller.agent_id)
                if caller.role == "human" and caller.agent_id is not None else None)
        effects = uow.hyperlocal.applied_effects(problem_id)
    return {"problem": problem, "counts": counts, "mine": mine, "effects": effects}


def sock_report(uow: UnitOfWork, *, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Sock patterns among the attestations of the last `days` days (domain/socks.py), with counts."""
    now = now or datetime.now(UTC)
    with uow:
        rows = uow.socks.attestations_since(now - timedelta(days=days))
    groups = socks.sock_groups(rows)
    count = {p: sum(1 for g in groups if g.pattern == p)
             for p in ("same_owner_as_problem", "shared_owner", "shared_address")}
    return {
        "days": days,
        "same_owner_as_problem": count["same_owner_as_problem"],
        "shared_owner_groups": count["shared_owner"],
        "shared_address_groups": count["shared_address"],
        "patterns": [{"problem_id": g.problem_id, "status": g.status, "pattern": g.pattern,
                      "attesters": len(g.attester_ids), "distinct_owners": g.distinct_owners,
                      "attester_ids": list(g.attester_ids)} for g in groups],
    }
