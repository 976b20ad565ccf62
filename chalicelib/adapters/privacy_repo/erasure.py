"""The SQL of an erasure: close the identity, re-point what must stay to a tombstone, scrub texts, sweep
every table for identifiers, delete the identity."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from chalicelib.db.pool import Connection
from chalicelib.domain.privacy import ERASED_TEXT


def erase_consents(conn: Connection, subject_id: UUID, tombstone_id: UUID) -> dict[str, int]:
    deleted = conn.execute("DELETE FROM consents WHERE human_id = %s", (subject_id,)).rowcount
    kept = conn.execute("UPDATE consent_events SET human_id = %s WHERE human_id = %s",
                        (tombstone_id, subject_id)).rowcount
    return {"consents_deleted": deleted, "consent_events_anonymised": kept}


def enable_erasure(conn: Connection) -> None:
    """This transaction may re-point journal entries and audit rows (see migration 014)."""
    conn.execute("SELECT set_config('peerguard.erasure', 'on', true)")


def insert_tombstone(conn: Connection, *, tombstone_id: UUID, kind: str, owner_id: UUID) -> None:
    conn.execute(
        "INSERT INTO agents (id, kind, name, description, owner_id, status) VALUES (%s, %s, %s, '', %s, 'deleted')"
        " ON CONFLICT (id) DO NOTHING",
        (tombstone_id, kind, "erased", owner_id),
    )


def close_identity(conn: Connection, subject_id: UUID, now: datetime) -> int:
    """The subject can no longer act: status deleted, every key revoked."""
    conn.execute("UPDATE agents SET status = 'deleted' WHERE id = %s", (subject_id,))
    # No new evaluations are assigned to a subject being erased.
    conn.execute("UPDATE validators SET suspended_at = COALESCE(suspended_at, %s),"
                 " suspension_reason = COALESCE(suspension_reason, 'erasure') WHERE agent_id = %s", (now, subject_id))
    cur = conn.execute("UPDATE api_keys SET revoked_at = %s WHERE agent_id = %s AND revoked_at IS NULL",
                       (now, subject_id))
    return cur.rowcount


def subject_blob_keys(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, processed_key FROM evidence WHERE human_id = %s ORDER BY id", (subject_id,)
    ).fetchall()


def repoint_account(conn: Connection, subject_id: UUID, tombstone_id: UUID, tombstone_code: str) -> int | None:
    row = conn.execute(
        "UPDATE accounts SET agent_id = %s, code = %s WHERE agent_id = %s RETURNING id",
        (tombstone_id, tombstone_code, subject_id),
    ).fetchone()
    if row is not None:
        return int(row["id"])
    found = conn.execute("SELECT id FROM accounts WHERE agent_id = %s", (tombstone_id,)).fetchone()
    return int(found["id"]) if found else None


def scrub_journal_batch(conn: Connection, account_id: int, subject: str, tombstone: str, limit: int) -> int:
    """Scrub the memo of up to `limit` entries touching the account and replace the subject's id in their
    idempotency keys. Amounts, legs, kinds and times are untouched."""
    cur = conn.execute(
        "UPDATE journal_entries e SET memo = '{\"erased\": true}'::jsonb,"
        " idempotency_key = replace(e.idempotency_key, %(subject)s, %(tombstone)s)"
        " WHERE e.id IN (SELECT l.entry_id FROM journal_legs l JOIN journal_entries j ON j.id = l.entry_id"
        "   WHERE l.account_id = %(account)s AND j.memo <> '{\"erased\": true}'::jsonb LIMIT %(limit)s)",
        {"subject": subject, "tombstone": tombstone, "account": account_id, "limit": limit},
    )
    return cur.rowcount


def submissions_to_scrub(conn: Connection, subject_id: UUID, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, kind, title, body, domain FROM submissions WHERE agent_id = %s ORDER BY id LIMIT %s FOR UPDATE",
        (subject_id, limit),
    ).fetchall()


def scrub_submissions(conn: Connection, ids: Sequence[UUID], tombstone_id: UUID | None,
                      cache_keys: Sequence[str]) -> None:
    """The submissions keep their status, decider, cost and times (counts, metrics, the ledger) and lose
    their text, place and idempotency data (and, given a tombstone, their author); so does every verdict
    and note written about them."""
    ids = list(ids)
    conn.execute(
        "UPDATE submissions SET agent_id = COALESCE(%s, agent_id), title = %s, body = %s, latitude = NULL,"
        " longitude = NULL, content_hash = 'erased', idempotency_key = NULL, request_hash = NULL, correlation_id = NULL"
        " WHERE id = ANY(%s)",
        (tombstone_id, ERASED_TEXT, ERASED_TEXT, ids),
    )
    conn.execute(
        "UPDATE decision_trail SET verdict = jsonb_strip_nulls(jsonb_build_object('erased', true,"
        " 'decision', verdict->'decision', 'outcome', verdict->'outcome', 'status', verdict->'status',"
        " 'path', verdict->'path')) WHERE submission_id = ANY(%s)",
        (ids,),
    )
    conn.execute("DELETE FROM submission_originals WHERE submission_id = ANY(%s)", (ids,))
    conn.execute("UPDATE evaluations SET reasoning = NULL WHERE submission_id = ANY(%s) AND reasoning IS NOT NULL",
                 (ids,))
    conn.execute("UPDATE spot_checks SET layer_b_result = NULL, verdict_notes = NULL, error = NULL"
                 " WHERE submission_id = ANY(%s)", (ids,))
    conn.execute("UPDATE layer_b_calls SET error = NULL WHERE submission_id = ANY(%s) AND error IS NOT NULL",
                 (ids,))
    scrub_review_items(conn, "submission", ids)
    if cache_keys:
        conn.execute("DELETE FROM layer_b_cache WHERE cache_key = ANY(%s)", (list(cache_keys),))


def scrub_review_items(conn: Connection, subject_type: str, ids: Sequence[UUID]) -> None:
    conn.execute(
        "UPDATE review_item_events SET notes = NULL, details = '{}'::jsonb WHERE item_id IN"
        " (SELECT id FROM review_items WHERE subject_type = %s AND subject_id = ANY(%s))",
        (subject_type, list(ids)),
    )
    conn.execute(
        "UPDATE review_items SET details = '{}'::jsonb, notes = NULL WHERE subject_type = %s AND subject_id = ANY(%s)",
        (subject_type, list(ids)),
    )


def repoint_validator(conn: Connection, subject_id: UUID, tombstone_id: UUID) -> int:
    """A validator's votes stay in other people's decisions (F1, consensus) under the tombstone; its home
    regions (places) and reasoning texts go."""
    exists = conn.execute("SELECT 1 FROM validators WHERE agent_id = %s", (subject_id,)).fetchone()
    if exists is None:
        return 0
    conn.execute(
        "INSERT INTO validators (agent_id, tier, f1_score, precision_score, recall_score, scored_evaluations,"
        " response_rate, evaluations_today, quota_day, suspended_at, suspended_until, suspension_reason,"
        " tier_changed_at, joined_at, updated_at)"
        " SELECT %s, tier, f1_score, precision_score, recall_score, scored_evaluations, response_rate,"
        " evaluations_today, quota_day, suspended_at, suspended_until,"
        " CASE WHEN suspended_at IS NULL THEN NULL ELSE 'erased' END, tier_changed_at, joined_at, now()"
        " FROM validators WHERE agent_id = %s ON CONFLICT (agent_id) DO NOTHING",
        (tombstone_id, subject_id),
    )
    # A suspended tombstone never gets work again.
    conn.execute("UPDATE validators SET suspended_at = COALESCE(suspended_at, now()), suspension_reason = 'erased'"
                 " WHERE agent_id = %s", (tombstone_id,))
    cur = conn.execute("UPDATE evaluations SET validator_id = %s, reasoning = NULL WHERE validator_id = %s",
                       (tombstone_id, subject_id))
    conn.execute("UPDATE validator_tier_changes SET agent_id = %s WHERE agent_id = %s", (tombstone_id, subject_id))
    # Quota resets stay as a record of what operators did, under the tombstone; their free-text reason goes.
    conn.execute("UPDATE validator_quota_resets SET agent_id = %s, reason = %s WHERE agent_id = %s",
                 (tombstone_id, ERASED_TEXT, subject_id))
    conn.execute("DELETE FROM validator_regions WHERE agent_id = %s", (subject_id,))
    conn.execute("DELETE FROM validators WHERE agent_id = %s", (subject_id,))
    return cur.rowcount


def erase_hyperlocal(conn: Connection, subject_id: UUID, tombstone_id: UUID) -> dict[str, int]:
    evidence_ids = [r["id"] for r in conn.execute(
        "SELECT id FROM evidence WHERE human_id = %s", (subject_id,)).fetchall()]
    scrub_review_items(conn, "evidence", evidence_ids)
    evidence = conn.execute("DELETE FROM evidence WHERE human_id = %s", (subject_id,)).rowcount
    # Another human's photo never sits in this human's pair; the guard keeps it that way here.
    pairs = conn.execute(
        "DELETE FROM evidence_pairs p WHERE p.human_id = %s AND NOT EXISTS"
        " (SELECT 1 FROM evidence e WHERE e.pair_id = p.id)", (subject_id,)).rowcount
    attestations = conn.execute(
        "UPDATE attestations SET human_id = %s, note = NULL WHERE human_id = %s", (tombstone_id, subject_id)
    ).rowcount
    missions = conn.execute(
        "UPDATE missions SET creator_agent_id = %s WHERE creator_agent_id = %s", (tombstone_id, subject_id)
    ).rowcount
    scrub_review_items(conn, "agent", [subject_id])
    return {"evidence": evidence, "evidence_pairs": pairs, "attestations": attestations, "missions": missions}


def scrub_operator_actions(conn: Connection, subject_id: UUID, key_ids: Sequence[UUID]) -> int:
    """What operators did to the subject and its keys stays (who, what, when: accountability), its
    free-text reason goes; the identifier sweep then re-points the rows to the tombstone."""
    return conn.execute(
        "UPDATE admin_actions SET reason = %s WHERE (subject_type = 'agent' AND subject_id = %s)"
        " OR (subject_type = 'api_key' AND subject_id = ANY(%s))",
        (ERASED_TEXT, str(subject_id), [str(k) for k in key_ids]),
    ).rowcount


def forget_registration_address(conn: Connection, subject_id: UUID) -> int:
    """The keyed hash of the address the subject registered from is forgotten (the row stays, re-pointed
    to the tombstone by the sweep, for the owner's registration counts)."""
    return conn.execute(
        "UPDATE registrations SET address_fingerprint = 'unknown' WHERE agent_id = %s",
        (subject_id,),
    ).rowcount


# Identity tables are handled by name (the subject's row is deleted last); every other table is swept.
SWEEP_SKIP = frozenset({"agents", "api_keys", "schema_migrations"})
_SWEEP_TYPES = ("text", "character varying", "character", "jsonb", "json", "uuid", "ARRAY")


def sweepable_columns(conn: Connection) -> dict[str, list[tuple[str, str]]]:
    """Per base table, the (column, SQL type) of every column that can hold an identifier."""
    rows = conn.execute(
        "SELECT c.table_name, c.column_name, format_type(a.atttypid, a.atttypmod) AS sql_type"
        " FROM information_schema.columns c JOIN information_schema.tables t"
        "   ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'"
        " JOIN pg_attribute a ON a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass"
        "   AND a.attname = c.column_name"
        " WHERE c.table_schema = 'public' AND c.data_type = ANY(%s) AND c.is_generated = 'NEVER'"
        " ORDER BY c.table_name, c.ordinal_position",
        (list(_SWEEP_TYPES),),
    ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        if r["table_name"] not in SWEEP_SKIP:
            tables.setdefault(r["table_name"], []).append((r["column_name"], r["sql_type"]))
    return tables


_SAFE_TYPE = re.compile(r"^[a-z ]+(\([0-9]+\))?(\[\])?$")


def sweep_table(conn: Connection, table: str, columns: Sequence[tuple[str, str]],
                replacements: dict[str, str]) -> int:
    """Replace every identifier in the given columns of one table (case-insensitively, whatever each
    column's type) in one statement: one pass over the table, only matching rows rewritten."""
    if not columns or not replacements:
        return 0
    for _, sql_type in columns:
        if not _SAFE_TYPE.match(sql_type):
            raise ValueError(f"unexpected column type {sql_type}")
    any_of = sql.Literal("(" + "|".join(re.escape(old) for old in replacements) + ")")
    assignments = []
    conditions = []
    for column, sql_type in columns:
        target = sql.Identifier(column)
        rewritten: sql.Composable = sql.SQL("{}::text").format(target)
        for old, new in replacements.items():
            rewritten = sql.SQL("regexp_replace({}, {}, {}, 'gi')").format(
                rewritten, sql.Literal(re.escape(old)), sql.Literal(new))
        assignments.append(sql.SQL("{col} = CASE WHEN {col}::text ~* {pat} THEN ({new})::" + sql_type
                                   + " ELSE {col} END").format(col=target, pat=any_of, new=rewritten))
        conditions.append(sql.SQL("{}::text ~* {}").format(target, any_of))
    statement = sql.SQL("UPDATE {table} SET {assignments} WHERE {conditions}").format(
        table=sql.Identifier(table), assignments=sql.SQL(", ").join(assignments),
        conditions=sql.SQL(" OR ").join(conditions))
    return conn.execute(statement).rowcount


def scrub_name_in_requests(conn: Connection, tombstone_id: UUID, name: str) -> None:
    """Reasons typed by people about this subject's requests lose the subject's name (only these rows:
    a name is too common a string to replace anywhere else)."""
    pattern = re.escape(name)
    conn.execute(
        "UPDATE privacy_requests SET reason = regexp_replace(reason, %(p)s, %(r)s, 'gi'),"
        " approval_reason = regexp_replace(approval_reason, %(p)s, %(r)s, 'gi') WHERE subject_id = %(t)s",
        {"p": pattern, "r": ERASED_TEXT, "t": tombstone_id},
    )
    conn.execute(
        "UPDATE privacy_audit_log SET details = regexp_replace(details::text, %(p)s, %(r)s, 'gi')::jsonb"
        " WHERE subject_id = %(t)s AND strpos(lower(details::text), lower(%(n)s)) > 0",
        {"p": pattern, "r": ERASED_TEXT, "t": tombstone_id, "n": name},
    )


def delete_identity(conn: Connection, subject_id: UUID, key_ids: Sequence[UUID]) -> dict[str, int]:
    buckets = [f"key:{k}" for k in key_ids]
    limits = conn.execute("DELETE FROM rate_limit_windows WHERE bucket = ANY(%s)", (buckets,)).rowcount if buckets \
        else 0
    keys = conn.execute("DELETE FROM api_keys WHERE agent_id = %s", (subject_id,)).rowcount
    agents = conn.execute("DELETE FROM agents WHERE id = %s", (subject_id,)).rowcount
    return {"rate_limit_windows": limits, "api_keys": keys, "agents": agents}
