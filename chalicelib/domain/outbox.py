"""Messages of the transactional outbox: the topics and what a relayed message carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOPICS = ("guardrail", "consensus", "spot_check", "privacy", "privacy_request", "delivery", "export_job")


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    topic: str
    payload: dict[str, Any]
    correlation_id: str | None
    attempts: int

    @property
    def message_key(self) -> str:
        """Stable across redeliveries and resends: consumers deduplicate on it."""
        return f"outbox:{self.id}"
