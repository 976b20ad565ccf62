"""Photo evidence: register an upload, read its privacy outcome, before/after pairs, admin retry;
and, in local mode only, the upload and download routes that stand in for presigned S3 URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from chalice.app import Blueprint, Response
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from chalicelib import bootstrap
from chalicelib.domain.hyperlocal import ACCEPTED_PHOTO_TYPES, PairCriteria, coarse
from chalicelib.entrypoints.api.framework import Reply, RequestContext, api_route
from chalicelib.entrypoints.api.models import IdPath, ParamsModel, RequestModel
from chalicelib.services import evidence_upload

bp = Blueprint(__name__)
TAG = "evidence"


class RegisterEvidence(RequestModel):
    mission_id: UUID
    pair_id: UUID | None = None
    sequence: Literal["before", "after", "standalone"]
    content_type: Annotated[str, Field(min_length=1, max_length=100)]
    size_bytes: Annotated[int, Field(ge=1)]
    captured_at: AwareDatetime
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> RegisterEvidence:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude come together")
        return self


class PrivacyReport(BaseModel):
    removed_metadata: list[str]
    orientation_applied: bool
    blur_enabled: bool
    faces_blurred: int
    plates_blurred: int
    regions_blurred: int
    width: int
    height: int
    sha256: str


class CoarseLocation(BaseModel):
    latitude: float
    longitude: float


class Rejection(BaseModel):
    code: str
    message: str


class DownloadOut(BaseModel):
    url: str
    content_type: str
    expires_at: datetime


class EvidenceOut(BaseModel):
    id: UUID
    mission_id: UUID
    pair_id: UUID | None
    sequence: str
    status: Literal["quarantined", "processing", "ready", "rejected"]
    content_type: str
    size_bytes: int
    captured_at: datetime
    declared_location: CoarseLocation | None
    created_at: datetime
    uploaded_at: datetime | None
    processed_at: datetime | None
    privacy: PrivacyReport | None
    coarse_location: CoarseLocation | None
    rejection: Rejection | None
    retries_used: int
    retries_left: int
    download: DownloadOut | None


class UploadOut(BaseModel):
    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


class EvidenceRegistered(BaseModel):
    evidence: EvidenceOut
    upload: UploadOut


class PairCriteriaOut(BaseModel):
    min_minutes_between: int
    gps_radius_m: int
    gps_check: bool


class PairVerificationOut(BaseModel):
    improvement: float | None
    confidence: float | None
    reasoning: str | None
    verifier: str | None
    model: str | None
    error: str | None
    decided_at: datetime | None


class EvidencePairOut(BaseModel):
    id: UUID
    mission_id: UUID
    status: Literal["open", "verifying", "approved", "rejected", "peer_review"]
    before: EvidenceOut | None
    after: EvidenceOut | None
    rejected_photos: list[UUID]
    criteria: PairCriteriaOut
    verification: PairVerificationOut | None
    created_at: datetime


class PairPath(ParamsModel):
    pair: UUID


class TokenQuery(ParamsModel):
    token: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[0-9]+\.[0-9a-f]+$")]


def evidence_out(row: dict[str, Any]) -> EvidenceOut:
    privacy = None
    if row["status"] == "ready":
        privacy = PrivacyReport(
            removed_metadata=list(row["removed_metadata"] or []), orientation_applied=bool(row["orientation_applied"]),
            blur_enabled=bool(row["blur_enabled"]), faces_blurred=row["faces_blurred"] or 0,
            plates_blurred=row["plates_blurred"] or 0,
            regions_blurred=(row["faces_blurred"] or 0) + (row["plates_blurred"] or 0),
            width=row["width"], height=row["height"], sha256=row["sha256"],
        )
    located = row["coarse_latitude"] is not None
    declared = row["latitude"] is not None
    link = row.get("download")
    return EvidenceOut(
        id=row["id"], mission_id=row["mission_id"], pair_id=row["pair_id"], sequence=row["sequence"],
        status=row["status"], content_type=row["content_type"], size_bytes=row["size_bytes"],
        captured_at=row["captured_at"],
        # Declared coordinates serve the GPS rules; like the photo's, they are only ever shown rounded.
        declared_location=CoarseLocation(latitude=coarse(row["latitude"]), longitude=coarse(row["longitude"]))
        if declared else None,
        created_at=row["created_at"], uploaded_at=row["uploaded_at"], processed_at=row["processed_at"],
        privacy=privacy,
        coarse_location=CoarseLocation(latitude=row["coarse_latitude"], longitude=row["coarse_longitude"])
        if located else None,
        rejection=Rejection(code=row["rejection_code"], message=row["rejection_message"] or "")
        if row["status"] == "rejected" else None,
        retries_used=row["retry_count"], retries_left=evidence_upload.MAX_RETRIES - row["retry_count"],
        download=DownloadOut(url=link.url, content_type=row["processed_content_type"], expires_at=link.expires_at)
        if link is not None else None,
    )


def pair_out(pair: dict[str, Any]) -> EvidencePairOut:
    criteria: PairCriteria = pair["criteria"]
    verification = None
    if pair["decided_at"] is not None:
        recorded = pair["verification"] or {}
        verification = PairVerificationOut(
            improvement=pair["improvement"], confidence=pair["confidence"], reasoning=pair["reasoning"],
            verifier=pair["verifier"], model=recorded.get("model"), error=recorded.get("error"),
            decided_at=pair["decided_at"],
        )
    return EvidencePairOut(
        id=pair["id"], mission_id=pair["mission_id"], status=pair["status"],
        before=evidence_out(pair["before"]) if pair["before"] else None,
        after=evidence_out(pair["after"]) if pair["after"] else None,
        rejected_photos=pair["rejected_photos"],
        criteria=PairCriteriaOut(min_minutes_between=criteria.min_minutes_between,
                                 gps_radius_m=criteria.gps_radius_m, gps_check=criteria.gps_check),
        verification=verification, created_at=pair["created_at"],
    )


@api_route(bp, "POST", "/v1/evidence", summary="Register a photo and get its upload URL (humans)", auth="human",
           tag=TAG, body=RegisterEvidence, response=EvidenceRegistered, status=201, errors=(404, 409, 413, 415))
def register(ctx: RequestContext) -> Reply:
    body: RegisterEvidence = ctx.body
    registration = evidence_upload.register_evidence(bootstrap.unit_of_work(), bootstrap.blob_store(),
        ctx.caller,
        evidence_upload.EvidenceDraft(
            mission_id=body.mission_id, sequence=body.sequence, content_type=body.content_type,
            size_bytes=body.size_bytes, captured_at=body.captured_at, pair_id=body.pair_id,
            latitude=body.latitude, longitude=body.longitude,
        ),
        correlation_id=ctx.correlation_id,
    )
    ticket = registration.upload
    return Reply(EvidenceRegistered(
        evidence=evidence_out({**registration.evidence, "download": None}),
        upload=UploadOut(url=ticket.url, method=ticket.method, headers=ticket.headers, expires_at=ticket.expires_at),
    ), status=201)


@api_route(bp, "GET", "/v1/evidence/{id}", summary="A photo's privacy outcome and, once ready, its download URL",
           auth="any", tag=TAG, path_params=IdPath, response=EvidenceOut, errors=(404,))
def get_one(ctx: RequestContext) -> EvidenceOut:
    return evidence_out(evidence_upload.get_evidence(bootstrap.unit_of_work(), bootstrap.blob_store(), ctx.caller,
                                                      ctx.path.id))


@api_route(bp, "GET", "/v1/evidence/pairs/{pair}", summary="A before/after pair and its verification", auth="any",
           tag=TAG, path_params=PairPath, response=EvidencePairOut, errors=(404,))
def get_pair(ctx: RequestContext) -> EvidencePairOut:
    return pair_out(evidence_upload.get_pair(bootstrap.unit_of_work(), bootstrap.blob_store(), ctx.caller,
                                              ctx.path.pair))


@api_route(bp, "POST", "/v1/admin/evidence/{id}/retry", summary="Run a rejected photo through the privacy stage "
           "again (at most 3 times)", auth="admin", tag="admin: evidence", path_params=IdPath, response=EvidenceOut,
           errors=(404, 409))
def retry(ctx: RequestContext) -> EvidenceOut:
    return evidence_out(evidence_upload.retry(bootstrap.unit_of_work(), bootstrap.blob_store(), ctx.caller,
                                               ctx.path.id,
                                               correlation_id=ctx.correlation_id))


# --- local mode: stand-ins for presigned S3 URLs ---------------------------------------------------


@api_route(bp, "PUT", "/v1/evidence/{id}/upload",
           summary="Local mode: upload the photo's bytes with the token from POST /v1/evidence", auth="public",
           tag=TAG, query=TokenQuery, path_params=IdPath, response=EvidenceOut,
           errors=(403, 404, 409, 413, 415), public_rate_limit=60, content_types=tuple(ACCEPTED_PHOTO_TYPES))
def upload(ctx: RequestContext) -> EvidenceOut:
    raw = bp.current_request.raw_body or b""
    data = raw if isinstance(raw, bytes) else raw.encode()
    received = evidence_upload.receive_upload(bootstrap.unit_of_work(), bootstrap.blob_store(), ctx.path.id,
                                               ctx.query.token, content_type=ctx.headers.get("content-type", ""),
                                               data=data, correlation_id=ctx.correlation_id)
    return evidence_out(received.evidence)


@api_route(bp, "GET", "/v1/evidence/{id}/download", summary="Local mode: the processed photo (never the original)",
           auth="public", tag=TAG, path_params=IdPath, query=TokenQuery, errors=(403, 404), public_rate_limit=120)
def download(ctx: RequestContext) -> Response:
    data, content_type = evidence_upload.download(bootstrap.unit_of_work(), bootstrap.blob_store(), ctx.path.id,
                                                   ctx.query.token)
    return Response(body=data, status_code=200, headers={
        "Content-Type": content_type, "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
    })
