"""Fixed-window rate limits kept in PostgreSQL, so every Lambda instance shares them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.db.pool import Connection


def hit(conn: Connection, bucket: str, *, limit: int, window: timedelta, now: datetime | None = None
        ) -> tuple[bool, int]:
    """Count one request in the bucket's current window: (allowed, seconds until the window resets)."""
    now = now or datetime.now(UTC)
    seconds = int(window.total_seconds())
    start_epoch = int(now.timestamp()) // seconds * seconds
    start = datetime.fromtimestamp(start_epoch, UTC)
    row = conn.execute(
        "INSERT INTO rate_limit_windows (bucket, window_start, hits) VALUES (%s, %s, 1)"
        " ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1"
        " RETURNING hits",
        (bucket, start),
    ).fetchone()
    assert row is not None
    retry_after = max(1, start_epoch + seconds - int(now.timestamp()))
    return int(row["hits"]) <= limit, retry_after


def purge_old(conn: Connection, older_than: timedelta = timedelta(days=1)) -> int:
    cur = conn.execute(
        "DELETE FROM rate_limit_windows WHERE window_start < now() - %s::interval", (older_than,)
    )
    return cur.rowcount
