"""The outside systems use cases talk to, besides the database: protocols only.

`chalicelib/bootstrap.py` picks the implementations (`chalicelib/adapters/`); tests may pass fakes.
"""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.domain.alert_rules import AlertMessage


class Notifier(Protocol):
    """One alert channel (log, SNS, webhook, e-mail)."""

    channel: str

    def send(self, message: AlertMessage) -> None:
        """Deliver one message or raise."""


class OperationalProbes(Protocol):
    """Figures measured outside the database: the queues' dead letters and this process's pool."""

    def dead_letter_depths(self, client: Any = None) -> dict[str, int | None]:
        """Messages waiting in each dead-letter queue (none locally, where the outbox holds the dead)."""

    def pool_stats(self) -> dict[str, int]:
        """The connection pool's figures (empty when the pool is not open)."""
