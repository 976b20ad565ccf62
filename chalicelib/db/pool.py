"""The connection pool, opened on first use. One use case = one transaction (`transaction()`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from chalicelib.config import database_url, get_settings
from chalicelib.db import timing

Connection = psycopg.Connection[DictRow]

_lock = threading.Lock()
_pool: ConnectionPool[Connection] | None = None


def _configure(conn: Connection) -> None:
    settings = get_settings()
    conn.execute(f"SET statement_timeout = {int(settings.db_statement_timeout_ms)}")
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


def get_pool() -> ConnectionPool[Connection]:
    """The process-wide pool; created lazily so that importing the app never connects."""
    global _pool  # noqa: PLW0603 - one pool per process, created on first use
    if _pool is None:
        with _lock:
            if _pool is None:
                settings = get_settings()
                url = database_url()
                if not url:
                    raise RuntimeError("no database configured: set DATABASE_URL (or DATABASE_HOST + secret)")
                # TimedCursor: the slow-query log (chalicelib/db/timing.py)
                kwargs: dict[str, Any] = {"row_factory": dict_row, "autocommit": False,
                                          "cursor_factory": timing.TimedCursor}
                timing.configure(settings.slow_query_ms)
                _pool = ConnectionPool(
                    url,
                    min_size=settings.db_pool_min_size,
                    max_size=settings.db_pool_max_size,
                    kwargs=kwargs,
                    configure=_configure,
                    timeout=settings.db_connect_timeout_s,
                    open=True,
                    name="peerguard",
                )
    return _pool


def close_pool() -> None:
    """Close the pool (tests and the local runner)."""
    global _pool  # noqa: PLW0603
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


# How long a transaction waits for a connection: None means the pool's own (DB_CONNECT_TIMEOUT_S, what
# workers and schedules wait); the API sets a short one per request (acquire_timeout below).
_acquire_timeout: ContextVar[float | None] = ContextVar("db_acquire_timeout", default=None)


@contextmanager
def acquire_timeout(seconds: float) -> Iterator[None]:
    """Within this block (one request), transactions wait at most `seconds` for a connection."""
    token = _acquire_timeout.set(seconds)
    try:
        yield
    finally:
        _acquire_timeout.reset(token)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached now (no connection in time, connection lost,
    server shutting down or refusing connections), as opposed to an error of the statement itself."""
    if isinstance(exc, PoolTimeout | PoolClosed):
        return True
    if isinstance(exc, psycopg.OperationalError):
        sqlstate = exc.sqlstate
        return sqlstate is None or sqlstate.startswith(("08", "57P"))
    return False


def connection() -> AbstractContextManager[Connection]:
    """Borrow a pooled connection, waiting at most the current acquire timeout (see acquire_timeout)."""
    return get_pool().connection(timeout=_acquire_timeout.get())


@contextmanager
def transaction() -> Iterator[Connection]:
    """A connection inside one transaction: committed on success, rolled back on any exception."""
    with connection() as conn:
        with conn.transaction():
            yield conn
    after_transaction()


def after_transaction() -> None:
    """Store the slow statements seen meanwhile, if any (a no-op otherwise)."""
    timing.persist_pending(transaction)


def pool_stats() -> dict[str, int]:
    """Pool figures for worker health and alerts (empty when the pool is not open)."""
    if _pool is None:
        return {}
    return {k: int(v) for k, v in _pool.get_stats().items()}
