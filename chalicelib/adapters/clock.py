"""The system clock behind the `Clock` port (services/ports.py)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """The machine's time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
