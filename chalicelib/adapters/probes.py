"""Operational figures from outside the database: SQS dead-letter depths and the connection pool."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import queue_metrics
from chalicelib.config import get_settings
from chalicelib.db.pool import pool_stats
from chalicelib.domain.outbox import TOPICS


class RuntimeProbes:
    """What the alert engine and the dashboard measure besides the database."""

    def dead_letter_depths(self, client: Any = None) -> dict[str, int | None]:
        settings = get_settings()
        if settings.dispatch_mode != "sqs" and client is None:
            return {}  # locally the outbox's dead rows are the dead-letter queue
        names = queue_metrics.dead_letter_queue_names(settings.queue_prefix, TOPICS)
        return queue_metrics.dead_letter_depths(names, region=settings.aws_region, client=client)

    def pool_stats(self) -> dict[str, int]:
        return pool_stats()
