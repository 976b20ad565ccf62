"""What exports and erasures need from the personal-data store: originals of masked submissions,
encrypted names, descriptions and coordinates, and consents (services/personal_data.py owns the
cipher and who may read what; the subject reads all of their own)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from chalicelib.adapters import personal_data_repo, privacy_repo
from chalicelib.db.pool import Connection
from chalicelib.services import personal_data


def originals_for(conn: Connection, submission_ids: Sequence[UUID]) -> dict[Any, dict[str, Any]]:
    """The author's original title and body (decrypted) and what was masked, per submission id, for
    the submissions where Layer A masked something."""
    if not submission_ids:
        return {}
    seal = personal_data.cipher()
    return {
        row["submission_id"]: {
            "title": seal.decrypt(row["title"], context=personal_data_repo.ORIGINAL_TITLE.context),
            "body": seal.decrypt(row["body"], context=personal_data_repo.ORIGINAL_BODY.context),
            "masked": row["masked"],
        }
        for row in privacy_repo.originals(conn, submission_ids)
    }


def _point(token: str | None, context: str) -> tuple[float, float] | None:
    if token is None:
        return None
    latitude, longitude = personal_data.cipher().decrypt_json(token, context=context)
    return float(latitude), float(longitude)


def open_account(account: dict[str, Any]) -> dict[str, Any]:
    """The account as its subject sees it: a human's real name and description, home regions' precise
    points (decrypted where they are stored encrypted)."""
    seal = personal_data.cipher()
    opened = dict(account)
    name_enc, description_enc = opened.pop("name_enc", None), opened.pop("description_enc", None)
    if name_enc is not None:
        opened["name"] = seal.decrypt(name_enc, context=personal_data_repo.HUMAN_NAME.context)
    if description_enc is not None:
        opened["description"] = seal.decrypt(description_enc, context=personal_data_repo.HUMAN_DESCRIPTION.context)
    validator = opened.get("validator")
    if validator:
        regions = []
        for stored in validator["home_regions"]:
            region = dict(stored)
            point = _point(region.pop("location_enc", None), personal_data_repo.REGION_LOCATION.context)
            if point is not None:
                region["latitude"], region["longitude"] = point
            regions.append(region)
        opened["validator"] = {**validator, "home_regions": regions}
    return opened


def open_evidence(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evidence records with their precise coordinates decrypted (the subject's own)."""
    opened = []
    for stored in rows:
        row = dict(stored)
        point = _point(row.pop("location_enc", None), personal_data_repo.EVIDENCE_LOCATION.context)
        if point is not None and row.get("latitude") is None:
            row["latitude"], row["longitude"] = point
        opened.append(row)
    return opened


def consents_for(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    """The subject's consent records (current state per purpose) with the history of every change."""
    return privacy_repo.consents(conn, subject_id)


def erase_for(conn: Connection, subject_id: UUID, tombstone_id: UUID) -> dict[str, int]:
    """Current consents are deleted; their history stays as the record of what was allowed when, under the
    tombstone. (Originals go with their submissions, encrypted columns with their rows.)"""
    return privacy_repo.erase_consents(conn, subject_id, tombstone_id)
