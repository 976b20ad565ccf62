"""Personal data at rest: originals of masked submissions, encrypted columns, key rotation.

The cipher comes with the unit of work (`uow.cipher()`, chosen in `bootstrap.py`: AWS KMS in AWS,
the local key file in local mode and tests). Who may read an original is decided here: its author
and admins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from chalicelib.domain.layer_a.model import LayerAResult
from chalicelib.domain.personal_data import (
    ENCRYPTED_COLUMNS,
    HUMAN_DESCRIPTION,
    HUMAN_NAME,
    ORIGINAL_BODY,
    ORIGINAL_TITLE,
    REGION_LOCATION,
    EncryptedColumn,
)
from chalicelib.observability import logger
from chalicelib.services.unit_of_work import UnitOfWork


def masked_spans(field_name: str, scan: LayerAResult) -> list[dict[str, Any]]:
    """What Layer A masked in one field: kind and position in the original text (never the text)."""
    return [
        {"field": field_name, "kind": s.subtype, "start": s.start, "end": s.end}
        for s in scan.signals
        if s.kind == "pii" and s.start is not None and s.end is not None
    ]


def keep_original(uow: UnitOfWork, submission_id: UUID, *, title: str, body: str,
                  title_scan: LayerAResult, body_scan: LayerAResult) -> list[dict[str, Any]]:
    """Store the author's original title and body, encrypted, when masking changed either of them
    (inside the caller's `with uow:`). Returns the masked spans (empty when nothing was masked)."""
    spans = masked_spans("title", title_scan) + masked_spans("body", body_scan)
    if title_scan.masked_text == title and body_scan.masked_text == body:
        return spans
    seal = uow.cipher()
    uow.personal_data.insert_original(
        submission_id,
        title=seal.encrypt(title, context=ORIGINAL_TITLE.context),
        body=seal.encrypt(body, context=ORIGINAL_BODY.context),
        masked=spans,
    )
    return spans


def read_original(uow: UnitOfWork, submission_id: UUID) -> dict[str, Any] | None:
    """The decrypted original {title, body, masked} of a submission, or None when nothing was masked
    (inside the caller's `with uow:`). Callers decide who may see it (its author and admins only)."""
    row = uow.personal_data.get_original(submission_id)
    if row is None:
        return None
    seal = uow.cipher()
    return {
        "title": seal.decrypt(row["title"], context=ORIGINAL_TITLE.context),
        "body": seal.decrypt(row["body"], context=ORIGINAL_BODY.context),
        "masked": row["masked"],
    }


# --- key rotation ------------------------------------------------------------------------------


@dataclass
class RotationReport:
    """What one run of the rotation job did, and what is left under older keys."""

    current_key_id: str
    reencrypted: dict[str, int] = field(default_factory=dict)
    remaining: int = 0
    failed: int = 0

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def as_dict(self) -> dict[str, Any]:
        return {"current_key_id": self.current_key_id, "reencrypted": self.reencrypted,
                "remaining": self.remaining, "failed": self.failed, "done": self.done}


def rotate_keys(uow: UnitOfWork, *, batch_size: int = 200, max_batches: int = 50) -> RotationReport:
    """Re-encrypt every personal value not yet under the current key, in bounded batches.

    Each batch is its own transaction and locks its rows (SKIP LOCKED), so the job can be stopped
    at any point, run again, or run twice at once: it resumes with what is still under an old key.
    A value that does not decrypt is counted as failed and left as it is (never destroyed)."""
    seal = uow.cipher()
    report = RotationReport(current_key_id=seal.current_key_id)
    for target in ENCRYPTED_COLUMNS:
        done = 0
        skipped: set[Any] = set()
        for _ in range(max_batches):
            with uow:
                rows = [r for r in uow.personal_data.stale_rows(target, report.current_key_id,
                                                                limit=batch_size + len(skipped))
                        if r["key"] not in skipped][:batch_size]
                for row in rows:
                    try:
                        fresh = seal.reencrypt(row["token"], context=target.context)
                    except ValueError:
                        skipped.add(row["key"])
                        logger.warning("undecryptable value left in place",
                                       extra={"column": target.context, "row": str(row["key"])})
                        continue
                    if uow.personal_data.replace_token(target, row["key"], row["token"], fresh):
                        done += 1
            if not rows:
                break
        report.failed += len(skipped)
        if done:
            report.reencrypted[target.context] = done
    with uow:
        for target in ENCRYPTED_COLUMNS:
            counts = uow.personal_data.count_by_key(target)
            report.remaining += sum(n for key_id, n in counts.items() if key_id != report.current_key_id)
    logger.info("key rotation run", extra=report.as_dict())
    return report


def key_usage(uow: UnitOfWork) -> dict[str, Any]:
    """The current key id and, for each encrypted column, how many values sit under each key id."""
    with uow:
        columns = {t.context: uow.personal_data.count_by_key(t) for t in ENCRYPTED_COLUMNS}
    return {"current_key_id": uow.cipher().current_key_id, "columns": columns}


# --- humans' names and descriptions ------------------------------------------------------------

HUMAN_NAME_INDEX = "human_name"


def pseudonym(agent_id: UUID) -> str:
    """The handle a human goes by in plain columns (listings, dashboards): no personal data."""
    return f"human-{agent_id.hex[:12]}"


def seal_human_profile(uow: UnitOfWork, agent_id: UUID, *, name: str, description: str) -> None:
    """Store a human's name and description encrypted, with a blind index of the name (inside the
    caller's `with uow:`)."""
    seal = uow.cipher()
    uow.personal_data.set_human_profile(
        agent_id,
        name=seal.encrypt(name, context=HUMAN_NAME.context),
        description=seal.encrypt(description, context=HUMAN_DESCRIPTION.context),
        name_index=seal.blind_index(name, purpose=HUMAN_NAME_INDEX),
    )


def open_profile(uow: UnitOfWork, row: dict[str, Any]) -> dict[str, Any]:
    """An agents row with a human's real name and description decrypted (for the human and admins)."""
    if row.get("name_enc") is None:
        return row
    seal = uow.cipher()
    return {**row, "name": seal.decrypt(row["name_enc"], context=HUMAN_NAME.context),
            "description": seal.decrypt(row["description_enc"], context=HUMAN_DESCRIPTION.context)
            if row.get("description_enc") else ""}


def find_humans_by_name(uow: UnitOfWork, name: str) -> list[UUID]:
    """Humans registered under this name (equal after case folding and spacing), via the blind index."""
    index = uow.cipher().blind_index(name, purpose=HUMAN_NAME_INDEX)
    with uow:
        return uow.personal_data.humans_by_name_index(index)


# --- coordinates and addresses -------------------------------------------------------------------


def seal_location(uow: UnitOfWork, latitude: float | None, longitude: float | None, *,
                  target: EncryptedColumn) -> str | None:
    if latitude is None or longitude is None:
        return None
    return uow.cipher().encrypt_json([latitude, longitude], context=target.context)


def open_location(uow: UnitOfWork, row: dict[str, Any], *, target: EncryptedColumn) -> dict[str, Any]:
    """A row whose precise latitude/longitude are filled from its encrypted location (rows written
    before encryption carry them in plain columns and are returned as they are)."""
    token = row.get(target.column)
    if token is None or row.get("latitude") is not None:
        return row
    latitude, longitude = uow.cipher().decrypt_json(token, context=target.context)
    return {**row, "latitude": float(latitude), "longitude": float(longitude)}


def open_region(uow: UnitOfWork, row: dict[str, Any]) -> dict[str, Any]:
    """A validator's home region with its precise point (for the validator and admins)."""
    token = row.get("location_enc")
    opened = {k: v for k, v in row.items() if k != "location_enc"}
    if token is not None:
        latitude, longitude = uow.cipher().decrypt_json(token, context=REGION_LOCATION.context)
        opened.update(latitude=float(latitude), longitude=float(longitude))
    return opened


def client_address_key(uow: UnitOfWork, address: str) -> str:
    """A keyed hash standing for a client address (rate-limit buckets keep no address)."""
    return uow.cipher().blind_index(address, purpose="client_address")
