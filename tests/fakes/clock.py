"""A clock tests pin and move by hand (`bootstrap.install_clock(PinnedClock(...))`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class PinnedClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at
