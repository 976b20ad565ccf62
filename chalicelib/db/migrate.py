"""Numbered `.sql` migrations applied in order, each once, recorded in schema_migrations."""

from __future__ import annotations

from importlib import resources

import psycopg

MIGRATIONS_PACKAGE = "chalicelib.db.migrations"
_LOCK_ID = 7_300_001  # advisory lock: two processes never migrate at once


def available_migrations() -> list[tuple[str, str]]:
    """(version, sql) pairs sorted by file name."""
    files = resources.files(MIGRATIONS_PACKAGE)
    found = [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8"))
             for f in files.iterdir() if f.name.endswith(".sql")]
    return sorted(found)


def migrate(database_url: str) -> list[str]:
    """Apply every pending migration; returns the versions applied now."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, sql in available_migrations():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
