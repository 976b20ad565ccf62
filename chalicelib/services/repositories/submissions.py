"""Submissions through the guardrail: the submissions and their decision trail, Layer B's bookkeeping,
and the human review queue (Layer C).

PostgreSQL implements each in the adapter module its docstring names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from chalicelib.domain.layer_b import ClassifierResult


class SubmissionsRepository(Protocol):
    """Submissions and their decision trail. (`adapters/submissions_repo.py`)."""

    def insert(self, values: dict[str, Any]) -> dict[str, Any]: ...
    def insert_screened(self, values: dict[str, Any], stage: str, verdict: dict[str, Any]) -> dict[str, Any] | None:
        """The submission and its first trail entry at once; None (nothing written) when the agent's
        idempotency key is taken."""
        ...
    def get(self, submission_id: UUID, *, for_update: bool = ...) -> dict[str, Any] | None: ...
    def find_by_idempotency_key(self, agent_id: UUID, key: str) -> dict[str, Any] | None: ...
    def add_trail(self, submission_id: UUID, stage: str, verdict: dict[str, Any]) -> None: ...
    def add_trails(self, submission_id: UUID, entries: Sequence[tuple[str, dict[str, Any]]]) -> None: ...
    def get_with_stage(
        self, submission_id: UUID, stage: str, *, for_update: bool = ...
    ) -> dict[str, Any] | None: ...
    def trail(self, submission_id: UUID) -> list[dict[str, Any]]: ...
    def decide(
        self, submission_id: UUID, *, status: str, decided_by: str, now: datetime, route_path: str | None = ...
    ) -> bool: ...
    def list_for_agent(
        self, agent_id: UUID, *, limit: int, before: tuple[datetime, str] | None, status: str | None = ...
    ) -> list[dict[str, Any]]: ...
    def decide_open(self, submission_id: UUID, *, status: str, decided_by: str, now: datetime) -> bool: ...
    def set_cost(self, submission_id: UUID, cost_millicredits: int) -> None: ...
    def route_to_peers(self, submission_id: UUID) -> None: ...
    def count_approval(self, submission_id: UUID) -> None: ...


class LayerBRepository(Protocol):
    """Layer B bookkeeping in PostgreSQL: calls and their cost, spend per day, the result cache, and
    (`adapters/layer_b_repo.py`).
    """

    def record_call(
        self,
        *,
        submission_id: UUID | None,
        purpose: str,
        outcome: str,
        result: ClassifierResult,
        batch: bool = ...,
        now: datetime,
    ) -> int: ...
    def add_spend(self, day: date, cost_usd_micros: int, shard: int) -> dict[str, Any]: ...
    def spend_of(self, day: date) -> dict[str, Any] | None: ...
    def mark_day(self, day: date, column: str, now: datetime) -> bool: ...
    def spend_days(self, since: date) -> list[dict[str, Any]]: ...
    def outcome_counts(self, since: datetime) -> dict[str, int]: ...
    def cache_get(self, cache_key: str, classifier: str, model: str, now: datetime) -> Any | None: ...
    def cache_put(
        self,
        cache_key: str,
        classifier: str,
        model: str,
        assessment: dict[str, Any],
        *,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...
    def purge_expired_cache(self, now: datetime, limit: int = ...) -> int: ...
    def threshold_overrides(self, domains: list[str] | None = ...) -> dict[str, dict[str, Any]]: ...
    def threshold_override(self, domain: str, *, for_update: bool = ...) -> dict[str, Any] | None: ...
    def put_threshold_override(
        self, domain: str, values: dict[str, float], *, actor: str, now: datetime
    ) -> dict[str, Any]: ...
    def delete_threshold_override(self, domain: str) -> bool: ...
    def add_threshold_change(
        self,
        domain: str,
        *,
        old: dict[str, float] | None,
        new: dict[str, float] | None,
        reason: str,
        actor: str,
        now: datetime,
    ) -> dict[str, Any]: ...
    def threshold_changes(
        self, *, domain: str | None, limit: int, before: tuple[datetime, str] | None
    ) -> list[dict[str, Any]]: ...


class ReviewRepository(Protocol):
    """The human review queue (Layer C) in PostgreSQL. (`adapters/review_repo.py`)."""

    def enqueue(
        self,
        *,
        subject_type: str,
        subject_id: UUID,
        source: str,
        reason: str,
        details: dict[str, Any] | None = ...,
        priority: int = ...,
        dedup_key: str | None = ...,
    ) -> UUID | None: ...
    def get(self, item_id: UUID, *, for_update: bool = ...) -> dict[str, Any] | None: ...
    def for_subject(self, subject_type: str, subject_id: UUID) -> list[dict[str, Any]]: ...
    def list_items(
        self, *, status: str | None, subject_type: str | None, limit: int, after: tuple[datetime, str] | None,
        subject_id: UUID | None = ..., agent_id: UUID | None = ..., source: str | None = ..., sort: str = ...,
        after_priority: int | None = ...,
    ) -> list[dict[str, Any]]: ...
    def update_item(self, item_id: UUID, values: dict[str, Any]) -> dict[str, Any]: ...
    def add_event(
        self,
        item_id: UUID,
        *,
        action: str,
        from_status: str,
        to_status: str,
        actor: str,
        notes: str | None,
        details: dict[str, Any] | None = ...,
        now: datetime,
    ) -> None: ...
    def events(self, item_id: UUID) -> list[dict[str, Any]]: ...
