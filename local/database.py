"""The database for local runs and tests: DATABASE_URL when set, else an embedded PostgreSQL."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PGDATA = ROOT / ".local" / "pgdata"
DATABASE_NAME = "peerguard"

_server: Any = None  # the embedded server stays up while this process holds its handle


def server_url(database: str | None = None) -> str:
    """URL of the server: DATABASE_URL's server when set, else the embedded one (started on demand)."""
    global _server  # noqa: PLW0603 - one embedded server handle per process
    external = os.environ.get("DATABASE_URL")
    if external:
        if database is None:
            return external
        return psycopg.conninfo.make_conninfo(external, dbname=database)
    if _server is None:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime directory at import; without XDG_RUNTIME_DIR
            # (containers, CI, root shells) platformdirs warns and falls back to a private /tmp
            # directory, which is fine for a lock file: the warning only alarms newcomers.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pgserver

        PGDATA.parent.mkdir(parents=True, exist_ok=True)
        _server = pgserver.get_server(PGDATA, cleanup_mode="stop")
    return str(_server.get_uri(database))


def ensure_database(name: str = DATABASE_NAME) -> str:
    """Create the database if it does not exist; returns its URL."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_url(name)


def create_scratch_database(name: str) -> str:
    """A fresh, empty database next to the configured one (test sessions, benchmarks)."""
    admin = server_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(admin, dbname=name)


def drop_database(name: str) -> None:
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
