"""What the scheduler's run history says about one job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class JobSummary:
    job: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_ok: bool | None
    last_error: str | None
    last_duration_ms: int | None
    last_ok_at: datetime | None
    first_seen_at: datetime | None
    consecutive_failures: int
    runs_24h: int
    failures_24h: int
