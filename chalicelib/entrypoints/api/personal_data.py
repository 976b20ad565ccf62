"""Personal data: a human's consents, and the encryption keys of personal columns for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from chalice.app import Blueprint
from pydantic import BaseModel, Field, field_validator

from chalicelib import bootstrap
from chalicelib.domain import consent
from chalicelib.domain.errors import Conflict
from chalicelib.entrypoints.api.framework import RequestContext, api_route
from chalicelib.entrypoints.api.models import RequestModel
from chalicelib.services import consents as consent_service
from chalicelib.services import personal_data

bp = Blueprint(__name__)


class ConsentAnswer(RequestModel):
    purpose: consent.Purpose
    granted: bool


class PutConsents(RequestModel):
    policy_version: Annotated[str, Field(min_length=1, max_length=40)]
    consents: Annotated[list[ConsentAnswer], Field(min_length=1, max_length=len(consent.PURPOSES))]

    @field_validator("consents")
    @classmethod
    def _one_answer_per_purpose(cls, value: list[ConsentAnswer]) -> list[ConsentAnswer]:
        if len({c.purpose for c in value}) != len(value):
            raise ValueError("one answer per purpose")
        return value


class ConsentOut(BaseModel):
    purpose: str
    description: str
    granted: bool
    answered: bool
    default: bool
    policy_version: str | None
    source: str | None
    granted_at: datetime | None
    withdrawn_at: datetime | None


class ConsentEvent(BaseModel):
    purpose: str
    action: Literal["granted", "withdrawn"]
    policy_version: str
    source: str
    created_at: datetime


class ConsentsOut(BaseModel):
    policy_version: str
    consents: list[ConsentOut]
    history: list[ConsentEvent]


@api_route(bp, "GET", "/v1/me/consents", summary="Your consents by purpose, what holds now, and their history",
           auth="human", tag="privacy", response=ConsentsOut)
def get_consents(ctx: RequestContext) -> ConsentsOut:
    assert ctx.caller.agent_id is not None
    return ConsentsOut(**consent_service.get_consents(bootstrap.unit_of_work(), ctx.caller.agent_id))


@api_route(bp, "PUT", "/v1/me/consents", summary="Grant or withdraw consents; a withdrawal applies from now on",
           auth="human", tag="privacy", body=PutConsents, response=ConsentsOut, errors=(409,))
def put_consents(ctx: RequestContext) -> ConsentsOut:
    body: PutConsents = ctx.body
    assert ctx.caller.agent_id is not None
    if body.policy_version != consent.POLICY_VERSION:
        raise Conflict("answer the current privacy policy",
                       details={"policy_version": consent.POLICY_VERSION, "given": body.policy_version})
    changes = [consent_service.ConsentChange(c.purpose, c.granted) for c in body.consents]
    return ConsentsOut(**consent_service.set_consents(bootstrap.unit_of_work(), ctx.caller.agent_id, changes,
                                                      policy_version=body.policy_version))


class KeyUsage(BaseModel):
    current_key_id: str
    columns: dict[str, dict[str, int]]


class RotationOut(BaseModel):
    current_key_id: str
    reencrypted: dict[str, int]
    remaining: int
    failed: int
    done: bool


@api_route(bp, "GET", "/v1/admin/privacy/keys",
           summary="The current encryption key and how many personal values sit under each key",
           auth="admin", tag="privacy", response=KeyUsage)
def key_usage(ctx: RequestContext) -> KeyUsage:
    return KeyUsage(**personal_data.key_usage(bootstrap.unit_of_work()))


@api_route(bp, "POST", "/v1/admin/privacy/keys/rotate",
           summary="Re-encrypt personal values under the current key (one bounded run; repeat until done)",
           auth="admin", tag="privacy", response=RotationOut)
def rotate(ctx: RequestContext) -> RotationOut:
    return RotationOut(**personal_data.rotate_keys(bootstrap.unit_of_work()).as_dict())
