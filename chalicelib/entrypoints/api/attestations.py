"""Attestations: humans confirm a problem, report it resolved, or report it not found."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import bootstrap
from chalicelib.domain.hyperlocal import AttestationStatus
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath, RequestModel, SafeText
from chalicelib.services import attestations as attestation_service

bp = Blueprint(__name__)
TAG = "attestations"


class Attest(RequestModel):
    status: AttestationStatus
    note: Annotated[SafeText, Field(min_length=1, max_length=500)] | None = None


class AttestationCounts(BaseModel):
    confirmed: int
    resolved: int
    not_found: int
    total: int


class AttestationOut(BaseModel):
    id: UUID
    problem_id: UUID
    status: str
    note: str | None
    created_at: datetime


class AttestationRecorded(BaseModel):
    attestation: AttestationOut
    counts: AttestationCounts
    effects_applied: list[str]


class AttestationEffectOut(BaseModel):
    effect: str
    details: dict[str, Any]
    applied_at: datetime


class AttestationSummary(BaseModel):
    problem_id: UUID
    urgency: float
    counts: AttestationCounts
    mine: AttestationOut | None
    effects: list[AttestationEffectOut]


def counts_out(counts: dict[str, int]) -> AttestationCounts:
    return AttestationCounts(**counts, total=sum(counts.values()))


def attestation_out(row: dict[str, Any]) -> AttestationOut:
    return AttestationOut(id=row["id"], problem_id=row["problem_id"], status=row["status"], note=row["note"],
                          created_at=row["created_at"])


@api_route(bp, "POST", "/v1/problems/{id}/attestations", summary="Attest a problem (once per human)",
           auth="human", tag=TAG, path_params=IdPath, body=Attest, response=AttestationRecorded, status=201,
           errors=(404, 409))
def attest(ctx: RequestContext) -> Reply:
    body: Attest = ctx.body
    outcome = attestation_service.attest(bootstrap.unit_of_work(), ctx.caller, ctx.path.id, body.status, body.note)
    return Reply(AttestationRecorded(attestation=attestation_out(outcome.attestation),
                                     counts=counts_out(outcome.counts),
                                     effects_applied=outcome.effects_applied), status=201)


@api_route(bp, "GET", "/v1/problems/{id}/attestations",
           summary="Attestation counts of a problem, its urgency and your own attestation", auth="any", tag=TAG,
           path_params=IdPath, response=AttestationSummary, errors=(404,))
def summary(ctx: RequestContext) -> AttestationSummary:
    found = attestation_service.summary(bootstrap.unit_of_work(), ctx.caller, ctx.path.id)
    return AttestationSummary(
        problem_id=found["problem"]["id"], urgency=found["problem"]["urgency"], counts=counts_out(found["counts"]),
        mine=attestation_out(found["mine"]) if found["mine"] else None,
        effects=[AttestationEffectOut(**e) for e in found["effects"]],
    )


@api_route(bp, "DELETE", "/v1/problems/{id}/attestations", summary="Withdraw your own attestation",
           auth="human", tag=TAG, path_params=IdPath, response=AttestationCounts, errors=(404,))
def withdraw(ctx: RequestContext) -> AttestationCounts:
    return counts_out(attestation_service.withdraw(bootstrap.unit_of_work(), ctx.caller, ctx.path.id))
