"""Keyset pagination on (created_at, id): opaque cursors, stable under inserts."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from chalicelib.domain.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def encode_cursor(created_at: datetime, row_id: Any) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, *, id_kind: Literal["uuid", "int", "signed_int"] = "uuid"
) -> tuple[datetime, str]:
    """The (created_at, id) position of a cursor. A malformed or forged cursor (including an id of the
    wrong kind for the list) is a validation error, never a database error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(created)
        if when.tzinfo is None or not isinstance(row_id, str) or len(row_id) > 64:
            raise ValueError("bad cursor")
        if id_kind == "uuid":
            row_id = str(UUID(row_id))
        else:
            digits = row_id[1:] if id_kind == "signed_int" and row_id.startswith("-") else row_id
            if not digits.isascii() or not digits.isdigit() or int(digits) >= 2**63:
                raise ValueError("bad cursor id")
        return when, row_id
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "cursor is not valid", details=[{"field": "cursor", "message": "malformed cursor"}]
        ) from exc


def encode_ranked_cursor(rank: int, created_at: datetime, row_id: Any) -> str:
    """A cursor for lists ordered by a rank first (e.g. priority), then (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), str(row_id), rank], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_ranked_cursor(cursor: str, *, id_kind: Literal["uuid", "int"] = "uuid") -> tuple[int, datetime, str]:
    """The (rank, created_at, id) position of a ranked cursor; malformed -> a validation error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id, rank = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if isinstance(rank, bool) or not isinstance(rank, int) or not -(2**31) <= rank < 2**31:
            raise ValueError("bad rank")
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "cursor is not valid", details=[{"field": "cursor", "message": "malformed cursor"}]
        ) from exc
    when, checked_id = decode_cursor(_pair_cursor(created, row_id), id_kind=id_kind)
    return rank, when, checked_id


def _pair_cursor(created: Any, row_id: Any) -> str:
    raw = json.dumps([created, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
