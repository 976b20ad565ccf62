"""Feature flags in PostgreSQL, cached per process for at most a few seconds."""

from __future__ import annotations

import threading
import time
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.flags import CACHE_TTL_S, FlagValue, resolve, spec_for

_cache_lock = threading.Lock()
_cache: tuple[float, dict[str, FlagValue]] | None = None


def load(conn: Connection) -> dict[str, FlagValue]:
    """Effective flag values straight from the database."""
    rows = conn.execute("SELECT name, value FROM feature_flags").fetchall()
    return resolve({r["name"]: r["value"] for r in rows})


def stored(conn: Connection, *, lock_name: str | None = None) -> dict[str, dict[str, Any]]:
    """Every stored flag row by name, its value also as the JSON text stored; `lock_name` locks that row."""
    if lock_name is not None:
        conn.execute("SELECT 1 FROM feature_flags WHERE name = %s FOR UPDATE", (lock_name,))
    rows = conn.execute("SELECT name, value, value::text AS raw, updated_at, updated_by FROM feature_flags").fetchall()
    return {r["name"]: r for r in rows}


def current(conn: Connection) -> dict[str, FlagValue]:
    """Effective flag values, at most CACHE_TTL_S old."""
    global _cache  # noqa: PLW0603 - per-process cache
    now = time.monotonic()
    with _cache_lock:
        if _cache is not None and now - _cache[0] < CACHE_TTL_S:
            return dict(_cache[1])
    values = load(conn)
    with _cache_lock:
        _cache = (now, values)
    return dict(values)


def invalidate() -> None:
    global _cache  # noqa: PLW0603
    with _cache_lock:
        _cache = None


def set_flag(
    conn: Connection, name: str, value: Any, *, actor: str, reason: str, forced: bool = False
) -> tuple[FlagValue | None, FlagValue]:
    """Validate and store a flag with an audit row; returns (old, new)."""
    spec = spec_for(name)
    new_value = spec.validate(value)
    row = conn.execute("SELECT value FROM feature_flags WHERE name = %s FOR UPDATE", (name,)).fetchone()
    old_value = resolve({name: row["value"]})[name] if row else None
    conn.execute(
        "INSERT INTO feature_flags (name, value, updated_by) VALUES (%s, %s, %s)"
        " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now(),"
        " updated_by = EXCLUDED.updated_by",
        (name, Jsonb(new_value), actor),
    )
    conn.execute(
        "INSERT INTO feature_flag_changes (name, old_value, new_value, reason, actor, forced)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (name, Jsonb(old_value) if old_value is not None else None, Jsonb(new_value), reason, actor, forced),
    )
    invalidate()
    return old_value, new_value


def history(conn: Connection, name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    if name is None:
        return conn.execute(
            "SELECT * FROM feature_flag_changes ORDER BY created_at DESC, id DESC LIMIT %s", (limit,)
        ).fetchall()
    return conn.execute(
        "SELECT * FROM feature_flag_changes WHERE name = %s ORDER BY created_at DESC, id DESC LIMIT %s",
        (name, limit),
    ).fetchall()
