"""Personal data at rest: originals of masked submissions, encrypted columns, key rotation.

The cipher comes from the composition root (`bootstrap.field_cipher()`): AWS KMS in AWS, the local
key file in local mode and tests. Who may read an original is decided here: its author and admins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from chalicelib import bootstrap
from chalicelib.adapters import personal_data_repo as repo
from chalicelib.adapters.field_crypto import FieldCipher
from chalicelib.adapters.personal_data_repo import ENCRYPTED_COLUMNS, ORIGINAL_BODY, ORIGINAL_TITLE
from chalicelib.db.pool import Connection, transaction
from chalicelib.domain.layer_a.model import LayerAResult
from chalicelib.observability import logger


def cipher() -> FieldCipher:
    return bootstrap.field_cipher()


def masked_spans(field_name: str, scan: LayerAResult) -> list[dict[str, Any]]:
    """What Layer A masked in one field: kind and position in the original text (never the text)."""
    return [
        {"field": field_name, "kind": s.subtype, "start": s.start, "end": s.end}
        for s in scan.signals
        if s.kind == "pii" and s.start is not None and s.end is not None
    ]


def keep_original(conn: Connection, submission_id: UUID, *, title: str, body: str,
                  title_scan: LayerAResult, body_scan: LayerAResult) -> list[dict[str, Any]]:
    """Store the author's original title and body, encrypted, when masking changed either of them.

    Returns the masked spans (empty when nothing was masked and nothing was stored)."""
    spans = masked_spans("title", title_scan) + masked_spans("body", body_scan)
    if title_scan.masked_text == title and body_scan.masked_text == body:
        return spans
    seal = cipher()
    repo.insert_original(
        conn, submission_id,
        title=seal.encrypt(title, context=ORIGINAL_TITLE.context),
        body=seal.encrypt(body, context=ORIGINAL_BODY.context),
        masked=spans,
    )
    return spans


def read_original(conn: Connection, submission_id: UUID) -> dict[str, Any] | None:
    """The decrypted original {title, body, masked} of a submission, or None when nothing was masked.

    Callers decide who may see it (its author and admins only)."""
    row = repo.get_original(conn, submission_id)
    if row is None:
        return None
    seal = cipher()
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


def rotate_keys(*, batch_size: int = 200, max_batches: int = 50) -> RotationReport:
    """Re-encrypt every personal value not yet under the current key, in bounded batches.

    Each batch is its own transaction and locks its rows (SKIP LOCKED), so the job can be stopped
    at any point, run again, or run twice at once: it resumes with what is still under an old key.
    A value that does not decrypt is counted as failed and left as it is (never destroyed)."""
    seal = cipher()
    report = RotationReport(current_key_id=seal.current_key_id)
    for target in ENCRYPTED_COLUMNS:
        done = 0
        skipped: set[Any] = set()
        for _ in range(max_batches):
            with transaction() as conn:
                rows = [r for r in repo.stale_rows(conn, target, report.current_key_id,
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
                    if repo.replace_token(conn, target, row["key"], row["token"], fresh):
                        done += 1
            if not rows:
                break
        report.failed += len(skipped)
        if done:
            report.reencrypted[target.context] = done
    with transaction() as conn:
        for target in ENCRYPTED_COLUMNS:
            counts = repo.count_by_key(conn, target)
            report.remaining += sum(n for key_id, n in counts.items() if key_id != report.current_key_id)
    logger.info("key rotation run", extra=report.as_dict())
    return report


def key_usage() -> dict[str, dict[str, int]]:
    """For each encrypted column, how many values sit under each key id."""
    with transaction() as conn:
        return {t.context: repo.count_by_key(conn, t) for t in ENCRYPTED_COLUMNS}


# --- humans' names and descriptions ------------------------------------------------------------

HUMAN_NAME_INDEX = "human_name"


def pseudonym(agent_id: UUID) -> str:
    """The handle a human goes by in plain columns (listings, dashboards): no personal data."""
    return f"human-{agent_id.hex[:12]}"


def seal_human_profile(conn: Connection, agent_id: UUID, *, name: str, description: str) -> None:
    """Store a human's name and description encrypted, with a blind index of the name."""
    seal = cipher()
    repo.set_human_profile(
        conn, agent_id,
        name=seal.encrypt(name, context=repo.HUMAN_NAME.context),
        description=seal.encrypt(description, context=repo.HUMAN_DESCRIPTION.context),
        name_index=seal.blind_index(name, purpose=HUMAN_NAME_INDEX),
    )


def open_profile(row: dict[str, Any]) -> dict[str, Any]:
    """An agents row with a human's real name and description decrypted (for the human and admins)."""
    if row.get("name_enc") is None:
        return row
    seal = cipher()
    return {**row, "name": seal.decrypt(row["name_enc"], context=repo.HUMAN_NAME.context),
            "description": seal.decrypt(row["description_enc"], context=repo.HUMAN_DESCRIPTION.context)
            if row.get("description_enc") else ""}


def find_humans_by_name(conn: Connection, name: str) -> list[UUID]:
    """Humans registered under this name (equal after case folding and spacing), via the blind index."""
    return repo.humans_by_name_index(conn, cipher().blind_index(name, purpose=HUMAN_NAME_INDEX))


# --- coordinates -------------------------------------------------------------------------------


def seal_location(latitude: float | None, longitude: float | None, *, target: repo.EncryptedColumn) -> str | None:
    if latitude is None or longitude is None:
        return None
    return cipher().encrypt_json([latitude, longitude], context=target.context)


def open_location(row: dict[str, Any], *, target: repo.EncryptedColumn) -> dict[str, Any]:
    """A row whose precise latitude/longitude are filled from its encrypted location (rows written
    before encryption carry them in plain columns and are returned as they are)."""
    token = row.get(target.column)
    if token is None or row.get("latitude") is not None:
        return row
    latitude, longitude = cipher().decrypt_json(token, context=target.context)
    return {**row, "latitude": float(latitude), "longitude": float(longitude)}


def open_region(row: dict[str, Any]) -> dict[str, Any]:
    """A validator's home region with its precise point (for the validator and admins)."""
    token = row.get("location_enc")
    opened = {k: v for k, v in row.items() if k != "location_enc"}
    if token is not None:
        latitude, longitude = cipher().decrypt_json(token, context=repo.REGION_LOCATION.context)
        opened.update(latitude=float(latitude), longitude=float(longitude))
    return opened


def client_address_key(address: str) -> str:
    """A keyed hash standing for a client address (rate-limit buckets keep no address)."""
    return cipher().blind_index(address, purpose="client_address")
