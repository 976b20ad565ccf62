"""The slow-query log: every statement run through the pool's connections is timed.

The pool's connections use `TimedCursor`; a statement slower than the threshold (settings
`slow_query_ms`, 500 ms) is remembered with its SQL text (never its parameters), counted in the
`SlowQueries` / `SlowQueryMs` metrics and, after the surrounding transaction, written to the
`slow_queries` table, where the alert engine reads it (warning above 500 ms, critical above
1000 ms). The cost on a fast statement is two clock reads and a comparison (bench/bench_query_timing.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from chalicelib.domain.alert_rules import SLOW_QUERY_WARN_MS

DEFAULT_THRESHOLD_MS = float(SLOW_QUERY_WARN_MS)  # until the pool configures it from settings
MAX_PENDING = 200
MAX_STATEMENT_CHARS = 1000

_threshold_s = DEFAULT_THRESHOLD_MS / 1000
_pending: deque[SlowStatement] = deque(maxlen=MAX_PENDING)
_writing = threading.local()
_retry_after = 0.0  # monotonic time before which a failed write is not retried
RETRY_DELAY_S = 60.0
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class SlowStatement:
    statement: str
    duration_ms: float
    at: datetime
    correlation_id: str | None


def configure(threshold_ms: float) -> None:
    """Set the threshold (the pool does this from settings when it opens)."""
    global _threshold_s  # noqa: PLW0603 - one threshold per process
    _threshold_s = max(threshold_ms, 0.0) / 1000


def _text(query: Any) -> str:
    if isinstance(query, bytes):
        text = query.decode("utf-8", "replace")
    elif isinstance(query, str):
        text = query
    else:  # psycopg.sql.Composable: its structure without a connection to render it
        text = repr(query)
    return _SPACES.sub(" ", text).strip()[:MAX_STATEMENT_CHARS]


def _record(query: Any, seconds: float) -> None:
    from chalicelib.observability import correlation_id, metrics

    statement = SlowStatement(_text(query), round(seconds * 1000, 3), datetime.now(UTC), correlation_id())
    _pending.append(statement)
    metrics.add_metric(name="SlowQueries", unit="Count", value=1)
    metrics.add_metric(name="SlowQueryMs", unit="Milliseconds", value=statement.duration_ms)


class TimedCursor(psycopg.Cursor[Any]):
    """A cursor that times `execute` and `executemany` (connection.execute uses it too)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            if elapsed >= _threshold_s:
                _record(query, elapsed)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            super().executemany(query, params_seq, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            if elapsed >= _threshold_s:
                _record(query, elapsed)


def pending() -> list[SlowStatement]:
    """Slow statements not yet written to the table (oldest first)."""
    return list(_pending)


def persist_pending(transaction: Callable[[], AbstractContextManager[Any]]) -> int:
    """Write remembered slow statements to `slow_queries` in their own transaction; returns how many.

    Called after each transaction (with the pool's `transaction`) when there is something to write.
    Never raises: the slow-query log
    must not break the work it observes (statements stay pending and are retried next time).
    """
    global _retry_after  # noqa: PLW0603
    if not _pending or getattr(_writing, "active", False) or time.monotonic() < _retry_after:
        return 0
    batch = []
    while _pending:
        batch.append(_pending.popleft())
    _writing.active = True
    try:
        with transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO slow_queries (statement, duration_ms, occurred_at, correlation_id)"
                " VALUES (%s, %s, %s, %s)",
                [(s.statement, s.duration_ms, s.at, s.correlation_id) for s in batch],
            )
        return len(batch)
    except Exception:
        from chalicelib.observability import logger

        logger.warning("slow statements could not be stored", exc_info=True)
        _retry_after = time.monotonic() + RETRY_DELAY_S
        for s in reversed(batch):
            if len(_pending) < MAX_PENDING:
                _pending.appendleft(s)
        return 0
    finally:
        _writing.active = False


def clear_pending() -> None:
    """Forget pending statements and any write back-off (tests)."""
    global _retry_after  # noqa: PLW0603
    _pending.clear()
    _retry_after = 0.0
