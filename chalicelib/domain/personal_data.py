"""Which columns hold personal data encrypted, and the associated data each is sealed with."""

from __future__ import annotations

from dataclasses import dataclass

# Every ciphertext starts with this marker and then names the key it was made under.
TOKEN_PREFIX = "enc1:"  # noqa: S105 - a format marker, not a secret


@dataclass(frozen=True)
class EncryptedColumn:
    """One column of ciphertext tokens; `context` is the associated data they were sealed with."""

    table: str
    key: str  # the primary key column that addresses a row
    column: str

    @property
    def context(self) -> str:
        return f"{self.table}.{self.column}"


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("submission_originals", "submission_id", "title"),
    EncryptedColumn("submission_originals", "submission_id", "body"),
    EncryptedColumn("agents", "id", "name_enc"),
    EncryptedColumn("agents", "id", "description_enc"),
    EncryptedColumn("evidence", "id", "location_enc"),
    EncryptedColumn("validator_regions", "id", "location_enc"),
)


def column(table: str, name: str) -> EncryptedColumn:
    """The registered encrypted column (its context is what encrypt/decrypt take)."""
    return next(c for c in ENCRYPTED_COLUMNS if c.table == table and c.column == name)


ORIGINAL_TITLE = column("submission_originals", "title")
ORIGINAL_BODY = column("submission_originals", "body")
HUMAN_NAME = column("agents", "name_enc")
HUMAN_DESCRIPTION = column("agents", "description_enc")
EVIDENCE_LOCATION = column("evidence", "location_enc")
REGION_LOCATION = column("validator_regions", "location_enc")
