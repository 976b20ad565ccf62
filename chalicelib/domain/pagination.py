"""Keyset pagination on (created_at, id): opaque cursors, stable under inserts."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def encode_cursor(created_at: datetime, row_id: Any) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) position of a cursor; a malformed cursor is a validation error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(created)
        if when.tzinfo is None or not isinstance(row_id, str) or len(row_id) > 64:
            raise ValueError("bad cursor")
        return when, row_id
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "cursor is not valid", details=[{"field": "cursor", "message": "malformed cursor"}]
        ) from exc
