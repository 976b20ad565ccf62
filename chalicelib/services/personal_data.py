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
