"""What exports and erasures need from the personal-data store (original texts, consents).

Until originals and consents are stored, a submission's stored text is all there is: exports carry
no separate original and erasure has nothing more to remove here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from chalicelib.db.pool import Connection


def originals_for(conn: Connection, submission_ids: Sequence[UUID]) -> dict[Any, dict[str, Any]]:
    """The author's original title and body per submission id (decrypted), where one is kept."""
    return {}


def consents_for(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    """The subject's consent records, oldest first."""
    return []


def erase_for(conn: Connection, subject_id: UUID, tombstone_id: UUID) -> dict[str, int]:
    """Delete the subject's originals and consents (the rest of the erasure handles every other table)."""
    return {}
