"""Messages between the stages: the transactional outbox and the record of messages already handled.

PostgreSQL implements each in the adapter module its docstring names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.outbox import OutboxMessage


class OutboxRepository(Protocol):
    """The transactional outbox: enqueue inside the state change's transaction, relay after commit.
    (`adapters/outbox.py`).
    """

    def enqueue(
        self, topic: str, payload: dict[str, Any], *, correlation_id: str | None = ..., delay_seconds: int = ...
    ) -> int: ...
    def claim(self, *, limit: int, ids: Sequence[int] | None = ..., topic: str | None = ...) -> list[OutboxMessage]: ...
    def mark_sent(self, ids: Sequence[int]) -> None: ...
    def mark_failed(self, messages: Sequence[OutboxMessage], error: str) -> None: ...
    def oldest_unsent_age_seconds(self) -> float | None: ...
    def dead_since(self, since: datetime) -> int: ...


class ProcessedMessages(Protocol):
    """Exactly-once effects of at-least-once messages. (`adapters/idempotency.py`)."""

    def first_delivery(self, consumer: str, message_key: str) -> bool: ...
