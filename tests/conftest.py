"""Test wiring: one fresh PostgreSQL database per session (embedded, or DATABASE_URL's server),
truncated between tests; settings and adapters reset around every test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

os.environ.setdefault("STAGE", "test")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "peerguard")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
    os.environ.pop(_var, None)  # no test may reach the real API

KEEP_TABLES = {"schema_migrations"}


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this test session, migrated."""
    from local import database

    name = f"peerguard_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = database.create_scratch_database(name)
    from chalicelib.db.migrate import migrate

    migrate(url)
    yield url
    from chalicelib.db.pool import close_pool

    close_pool()
    database.drop_database(name)


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean database (all tables truncated, system accounts restored) with settings pointing at it."""
    import psycopg

    from chalicelib import bootstrap
    from chalicelib.adapters import flags_repo
    from chalicelib.config import reset_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DISPATCH_MODE", "local")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "10")
    reset_settings()
    bootstrap.reset()
    flags_repo.invalidate()
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        to_clear = [t for t in tables if t not in KEEP_TABLES]
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in to_clear) + " RESTART IDENTITY CASCADE")
        conn.execute("INSERT INTO accounts (code, kind) VALUES ('system:faucet', 'system'),"
                     " ('system:sink', 'system')")
        conn.execute("INSERT INTO accounts (code, kind)"  # the sink's shards, as migration 021 makes them
                     " SELECT 'system:sink:' || n, 'system' FROM generate_series(0, 15) AS n")
    yield database_url
    flags_repo.invalidate()
    bootstrap.reset()
    reset_settings()
