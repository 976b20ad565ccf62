"""Job locks on PostgreSQL: session-level advisory locks on a connection of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.db import pool


class AdvisoryJobLocks:
    """`hold(name)` keeps a pooled connection for as long as the lock is held; if the process dies the
    session ends and PostgreSQL releases the lock."""

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        with pool.get_pool().connection() as conn:
            conn.autocommit = True
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS ok", (name,)).fetchone()
                held = bool(row and row["ok"])
                try:
                    yield held
                finally:
                    if held:
                        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
            finally:
                conn.autocommit = False
