"""What exports and erasures need from the personal-data store: originals of masked submissions,
encrypted names, descriptions and coordinates, and consents (services/personal_data.py owns the
cipher and who may read what; the subject reads all of their own)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from chalicelib.domain.personal_data import (
    EVIDENCE_LOCATION,
    HUMAN_DESCRIPTION,
    HUMAN_NAME,
    ORIGINAL_BODY,
    ORIGINAL_TITLE,
    REGION_LOCATION,
)
from chalicelib.services.ports import FieldCipher
from chalicelib.services.unit_of_work import UnitOfWork


def originals_for(uow: UnitOfWork, submission_ids: Sequence[UUID]) -> dict[Any, dict[str, Any]]:
    """The author's original title and body (decrypted) and what was masked, per submission id, for
    the submissions where Layer A masked something (inside the caller's `with uow:`)."""
    if not submission_ids:
        return {}
    seal = uow.cipher()
    return {
        row["submission_id"]: {
            "title": seal.decrypt(row["title"], context=ORIGINAL_TITLE.context),
            "body": seal.decrypt(row["body"], context=ORIGINAL_BODY.context),
            "masked": row["masked"],
        }
        for row in uow.privacy.originals(submission_ids)
    }


def _point(seal: FieldCipher, token: str | None, context: str) -> tuple[float, float] | None:
    if token is None:
        return None
    latitude, longitude = seal.decrypt_json(token, context=context)
    return float(latitude), float(longitude)


def open_account(seal: FieldCipher, account: dict[str, Any]) -> dict[str, Any]:
    """The account as its subject sees it: a human's real name and description, home regions' precise
    points (decrypted where they are stored encrypted)."""
    opened = dict(account)
    name_enc, description_enc = opened.pop("name_enc", None), opened.pop("description_enc", None)
    if name_enc is not None:
        opened["name"] = seal.decrypt(name_enc, context=HUMAN_NAME.context)
    if description_enc is not None:
        opened["description"] = seal.decrypt(description_enc, context=HUMAN_DESCRIPTION.context)
    validator = opened.get("validator")
    if validator:
        regions = []
        for stored in validator["home_regions"]:
            region = dict(stored)
            point = _point(seal, region.pop("location_enc", None), REGION_LOCATION.context)
            if point is not None:
                region["latitude"], region["longitude"] = point
            regions.append(region)
        opened["validator"] = {**validator, "home_regions": regions}
    return opened


def open_evidence(seal: FieldCipher, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evidence records with their precise coordinates decrypted (the subject's own)."""
    opened = []
    for stored in rows:
        row = dict(stored)
        point = _point(seal, row.pop("location_enc", None), EVIDENCE_LOCATION.context)
        if point is not None and row.get("latitude") is None:
            row["latitude"], row["longitude"] = point
        opened.append(row)
    return opened


def consents_for(uow: UnitOfWork, subject_id: UUID) -> list[dict[str, Any]]:
    """The subject's consent records (current state per purpose) with the history of every change."""
    return uow.privacy.consents(subject_id)


def erase_for(uow: UnitOfWork, subject_id: UUID, tombstone_id: UUID) -> dict[str, int]:
    """Current consents are deleted; their history stays as the record of what was allowed when, under the
    tombstone. (Originals go with their submissions, encrypted columns with their rows.)"""
    return uow.privacy.erase_consents(subject_id, tombstone_id)
