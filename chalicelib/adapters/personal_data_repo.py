"""Encrypted personal columns (the registry is in domain/personal_data.py) and the originals of
masked submissions. Values are `enc1:` tokens (adapters/field_crypto.py); this module never decrypts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.personal_data import (  # noqa: F401 - the registry, re-exported for older imports
    ENCRYPTED_COLUMNS,
    EVIDENCE_LOCATION,
    HUMAN_DESCRIPTION,
    HUMAN_NAME,
    ORIGINAL_BODY,
    ORIGINAL_TITLE,
    REGION_LOCATION,
    TOKEN_PREFIX,
    EncryptedColumn,
)


def stale_rows(conn: Connection, target: EncryptedColumn, current_key_id: str, *, limit: int) -> list[dict[str, Any]]:
    """Rows whose token in `target` is not under the current key, locked (others skip them)."""
    query = sql.SQL(
        "SELECT {key} AS key, {col} AS token FROM {table}"
        " WHERE {col} IS NOT NULL AND left({col}, %s) <> %s"
        " ORDER BY {key} LIMIT %s FOR UPDATE SKIP LOCKED"
    ).format(key=sql.Identifier(target.key), col=sql.Identifier(target.column), table=sql.Identifier(target.table))
    prefix = f"{TOKEN_PREFIX}{current_key_id}:"
    return conn.execute(query, (len(prefix), prefix, limit)).fetchall()


def replace_token(conn: Connection, target: EncryptedColumn, key: Any, old: str, new: str) -> bool:
    """Swap one token for its re-encryption, unless the row changed meanwhile."""
    query = sql.SQL("UPDATE {table} SET {col} = %s WHERE {key} = %s AND {col} = %s").format(
        table=sql.Identifier(target.table), col=sql.Identifier(target.column), key=sql.Identifier(target.key))
    return conn.execute(query, (new, key, old)).rowcount == 1


def count_by_key(conn: Connection, target: EncryptedColumn) -> dict[str, int]:
    """How many values of the column sit under each key id."""
    query = sql.SQL(
        "SELECT split_part({col}, ':', 2) AS key_id, count(*) AS n FROM {table}"
        " WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).format(col=sql.Identifier(target.column), table=sql.Identifier(target.table))
    return {r["key_id"]: int(r["n"]) for r in conn.execute(query).fetchall()}


# --- originals of masked submissions ---------------------------------------------------------


def insert_original(conn: Connection, submission_id: UUID, *, title: str, body: str,
                    masked: list[dict[str, Any]]) -> None:
    conn.execute(
        "INSERT INTO submission_originals (submission_id, title, body, masked) VALUES (%s, %s, %s, %s)",
        (submission_id, title, body, Jsonb(masked)),
    )


def get_original(conn: Connection, submission_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT submission_id, title, body, masked, created_at FROM submission_originals WHERE submission_id = %s",
        (submission_id,),
    ).fetchone()


# --- humans ------------------------------------------------------------------------------------


def set_human_profile(conn: Connection, agent_id: UUID, *, name: str, description: str, name_index: str) -> None:
    conn.execute(
        "UPDATE agents SET name_enc = %s, description_enc = %s, name_index = %s WHERE id = %s",
        (name, description, name_index, agent_id),
    )


def humans_by_name_index(conn: Connection, name_index: str) -> list[UUID]:
    rows = conn.execute(
        "SELECT id FROM agents WHERE name_index = %s AND kind = 'human' ORDER BY created_at, id", (name_index,)
    ).fetchall()
    return [r["id"] for r in rows]
