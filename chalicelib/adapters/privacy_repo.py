"""Data-subject requests, the privacy audit log, and the SQL of exports and erasures."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from chalicelib.db.pool import Connection
from chalicelib.domain.privacy import ERASED_TEXT


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=lambda obj: json.dumps(obj, default=str))


# --- requests -------------------------------------------------------------------------------------


def insert_request(
    conn: Connection, *, request_id: UUID, type_: str, subject_id: UUID, subject_kind: str, requested_by: str,
    on_behalf: bool, reason: str | None, approval_required: bool,
) -> dict[str, Any] | None:
    """The new request, or None when the subject already has an open one of that type."""
    return conn.execute(
        "INSERT INTO privacy_requests (id, type, subject_id, subject_kind, requested_by, on_behalf, reason,"
        " approval_required) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (subject_id, type) WHERE status IN ('pending', 'processing') DO NOTHING RETURNING *",
        (request_id, type_, subject_id, subject_kind, requested_by, on_behalf, reason, approval_required),
    ).fetchone()


def filed_since(conn: Connection, subject_id: UUID, type_: str, since: datetime) -> list[datetime]:
    """When the subject's requests of this type filed by the subject themselves (not on their behalf) were made."""
    return [r["created_at"] for r in conn.execute(
        "SELECT created_at FROM privacy_requests WHERE subject_id = %s AND type = %s AND NOT on_behalf"
        " AND created_at > %s", (subject_id, type_, since)).fetchall()]


def get_request(conn: Connection, request_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return conn.execute("SELECT * FROM privacy_requests WHERE id = %s" + lock, (request_id,)).fetchone()


def list_requests(
    conn: Connection, *, type_: str | None, status: str | None, subject_id: UUID | None,
    awaiting_approval: bool | None, after: tuple[datetime, UUID] | None, limit: int,
) -> list[dict[str, Any]]:
    where = ["TRUE"]
    params: list[Any] = []
    if type_ is not None:
        where.append("type = %s")
        params.append(type_)
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if subject_id is not None:
        where.append("subject_id = %s")
        params.append(subject_id)
    if awaiting_approval is not None:
        where.append("(approval_required AND approved_at IS NULL AND status = 'pending') = %s")
        params.append(awaiting_approval)
    if after is not None:
        where.append("(created_at, id) > (%s, %s)")
        params.extend(after)
    params.append(limit)
    return conn.execute(
        "SELECT * FROM privacy_requests WHERE " + " AND ".join(where) + " ORDER BY created_at, id LIMIT %s",
        params,
    ).fetchall()


def approve(conn: Connection, request_id: UUID, *, actor: str, reason: str, now: datetime) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE privacy_requests SET approved_by = %s, approved_at = %s, approval_reason = %s, updated_at = %s"
        " WHERE id = %s RETURNING *",
        (actor, now, reason, now, request_id),
    ).fetchone()
    assert row is not None
    return row


def start(conn: Connection, request_id: UUID, now: datetime) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE privacy_requests SET status = 'processing', attempts = attempts + 1,"
        " started_at = COALESCE(started_at, %s), updated_at = %s, error = NULL WHERE id = %s RETURNING *",
        (now, now, request_id),
    ).fetchone()
    assert row is not None
    return row


def set_tombstone(conn: Connection, request_id: UUID, tombstone_id: UUID) -> None:
    conn.execute("UPDATE privacy_requests SET tombstone_id = %s WHERE id = %s", (tombstone_id, request_id))


def save_progress(conn: Connection, request_id: UUID, *, progress: int, step: str, state: dict[str, Any],
                  now: datetime) -> None:
    conn.execute(
        "UPDATE privacy_requests SET progress = %s, step = %s, state = %s, updated_at = %s WHERE id = %s",
        (progress, step, _jsonb(state), now, request_id),
    )


def complete(conn: Connection, request_id: UUID, *, result: dict[str, Any], state: dict[str, Any], now: datetime,
             export_key: str | None = None, export_bytes: int | None = None,
             export_expires_at: datetime | None = None) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE privacy_requests SET status = 'completed', progress = 100, step = 'done', result = %s, state = %s,"
        " finished_at = %s, updated_at = %s, export_key = COALESCE(%s, export_key),"
        " export_bytes = COALESCE(%s, export_bytes), export_expires_at = COALESCE(%s, export_expires_at)"
        " WHERE id = %s RETURNING *",
        (_jsonb(result), _jsonb(state), now, now, export_key, export_bytes, export_expires_at, request_id),
    ).fetchone()
    assert row is not None
    return row


def record_failure(conn: Connection, request_id: UUID, *, error: str, final: bool, now: datetime) -> None:
    conn.execute(
        "UPDATE privacy_requests SET error = %s, updated_at = %s,"
        " status = CASE WHEN %s THEN 'failed' ELSE status END,"
        " finished_at = CASE WHEN %s THEN %s ELSE finished_at END WHERE id = %s",
        (error[:500], now, final, final, now, request_id),
    )


def expired_exports(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, subject_id, export_key FROM privacy_requests WHERE export_key IS NOT NULL"
        " AND export_deleted_at IS NULL AND export_expires_at <= %s ORDER BY export_expires_at LIMIT %s"
        " FOR UPDATE SKIP LOCKED",
        (now, limit),
    ).fetchall()


def count_expired_exports(conn: Connection, now: datetime) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM privacy_requests WHERE export_key IS NOT NULL AND export_deleted_at IS NULL"
        " AND export_expires_at <= %s", (now,),
    ).fetchone()
    return int(row["n"]) if row else 0


def mark_export_deleted(conn: Connection, request_ids: Sequence[UUID], now: datetime) -> None:
    conn.execute("UPDATE privacy_requests SET export_deleted_at = %s, updated_at = %s WHERE id = ANY(%s)",
                 (now, now, list(request_ids)))


def subject_exports(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, export_key FROM privacy_requests WHERE subject_id = %s AND export_key IS NOT NULL"
        " AND export_deleted_at IS NULL", (subject_id,),
    ).fetchall()


# --- audit ----------------------------------------------------------------------------------------


def audit(conn: Connection, *, action: str, actor: str, request_id: UUID | None = None,
          subject_id: UUID | None = None, details: dict[str, Any] | None = None,
          now: datetime | None = None) -> None:
    conn.execute(
        "INSERT INTO privacy_audit_log (request_id, subject_id, action, actor, details, created_at)"
        " VALUES (%s, %s, %s, %s, %s, COALESCE(%s, now()))",
        (request_id, subject_id, action, actor, _jsonb(details or {}), now),
    )


def audit_entries(
    conn: Connection, *, request_id: UUID | None, subject_id: UUID | None, action: str | None,
    after: tuple[datetime, int] | None, limit: int,
) -> list[dict[str, Any]]:
    where = ["TRUE"]
    params: list[Any] = []
    for column, value in (("request_id", request_id), ("subject_id", subject_id), ("action", action)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if after is not None:
        where.append("(created_at, id) > (%s, %s)")
        params.extend(after)
    params.append(limit)
    return conn.execute(
        "SELECT * FROM privacy_audit_log WHERE " + " AND ".join(where) + " ORDER BY created_at, id LIMIT %s",
        params,
    ).fetchall()


# --- the subject ----------------------------------------------------------------------------------


def get_subject(conn: Connection, subject_id: UUID, *, share_lock: bool = False) -> dict[str, Any] | None:
    lock = " FOR SHARE" if share_lock else ""
    return conn.execute(
        "SELECT id, kind, name, owner_id, status FROM agents WHERE id = %s" + lock, (subject_id,)
    ).fetchone()


def subject_keys(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, prefix, role, label, created_at, last_used_at, revoked_at FROM api_keys"
        " WHERE agent_id = %s ORDER BY created_at, id", (subject_id,),
    ).fetchall()


def owner_is_exclusive(conn: Connection, subject_id: UUID, owner_id: UUID) -> bool:
    row = conn.execute("SELECT count(*) AS n FROM agents WHERE owner_id = %s AND id <> %s",
                       (owner_id, subject_id)).fetchone()
    return row is not None and int(row["n"]) == 0


# --- export reads ---------------------------------------------------------------------------------


def export_account(conn: Connection, subject_id: UUID) -> dict[str, Any] | None:
    agent = conn.execute(
        "SELECT a.id, a.kind, a.name, a.description, a.name_enc, a.description_enc, a.owner_id, a.status,"
        " a.approvals_count, a.created_at,"
        " acc.balance AS balance_millicredits FROM agents a LEFT JOIN accounts acc ON acc.agent_id = a.id"
        " WHERE a.id = %s", (subject_id,),
    ).fetchone()
    if agent is None:
        return None
    validator = conn.execute(
        "SELECT tier, f1_score, precision_score, recall_score, scored_evaluations, response_rate,"
        " suspended_at, suspended_until, suspension_reason, joined_at FROM validators WHERE agent_id = %s",
        (subject_id,),
    ).fetchone()
    regions = conn.execute(
        "SELECT latitude, longitude, location_enc, label, created_at FROM validator_regions WHERE agent_id = %s"
        " ORDER BY id",
        (subject_id,),
    ).fetchall()
    return {**agent, "api_keys": subject_keys(conn, subject_id),
            "validator": {**validator, "home_regions": regions} if validator else None}


def export_submissions(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT s.id, s.kind, s.title, s.body, s.domain, s.latitude, s.longitude, s.mission_id, s.status,"
        " s.decided_by, s.route_path, s.cost_millicredits, s.urgency, s.created_at, s.decided_at,"
        " COALESCE((SELECT jsonb_agg(jsonb_build_object('stage', t.stage, 'verdict', t.verdict,"
        "   'created_at', t.created_at) ORDER BY t.id) FROM decision_trail t WHERE t.submission_id = s.id),"
        "   '[]'::jsonb) AS decision_trail"
        " FROM submissions s WHERE s.agent_id = %s ORDER BY s.created_at, s.id", (subject_id,),
    ).fetchall()


def export_evaluations(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, submission_id, mode, tier_at_assignment, status, assigned_at, expires_at, decision, confidence,"
        " reasoning, safety_flagged, responded_at, closed_at, truth, truth_source, scored_at, reward_millicredits"
        " FROM evaluations WHERE validator_id = %s ORDER BY assigned_at, id", (subject_id,),
    ).fetchall()


def export_ledger(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT e.id AS entry_id, e.kind, l.amount AS amount_millicredits, l.balance_before, l.balance_after,"
        " l.created_at FROM journal_legs l JOIN accounts a ON a.id = l.account_id"
        " JOIN journal_entries e ON e.id = l.entry_id WHERE a.agent_id = %s ORDER BY l.created_at, l.id",
        (subject_id,),
    ).fetchall()


def export_evidence(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, mission_id, pair_id, sequence, content_type, size_bytes, captured_at, latitude, longitude,"
        " location_enc, location_allowed, status, processed_key, processed_content_type, processed_bytes, width,"
        " height, sha256,"
        " removed_metadata, orientation_applied, blur_enabled, faces_blurred, plates_blurred, coarse_latitude,"
        " coarse_longitude, rejection_code, rejection_message, uploaded_at, processed_at, created_at"
        " FROM evidence WHERE human_id = %s ORDER BY created_at, id", (subject_id,),
    ).fetchall()


def export_attestations(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, problem_id, status, note, created_at FROM attestations WHERE human_id = %s"
        " ORDER BY created_at, id", (subject_id,),
    ).fetchall()


def export_requests(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    requests = conn.execute(
        "SELECT id, type, status, progress, on_behalf, reason, requested_by, approved_by, approved_at,"
        " approval_reason, created_at, started_at, finished_at, export_expires_at FROM privacy_requests"
        " WHERE subject_id = %s ORDER BY created_at, id", (subject_id,),
    ).fetchall()
    audit_rows = conn.execute(
        "SELECT request_id, action, actor, created_at FROM privacy_audit_log WHERE subject_id = %s ORDER BY id",
        (subject_id,),
    ).fetchall()
    by_request: dict[Any, list[dict[str, Any]]] = {}
    for row in audit_rows:
        by_request.setdefault(row["request_id"], []).append(
            {"action": row["action"], "actor": row["actor"], "at": row["created_at"]})
    return [{**r, "audit": by_request.get(r["id"], [])} for r in requests]


def originals(conn: Connection, submission_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT submission_id, title, body, masked FROM submission_originals WHERE submission_id = ANY(%s)",
        (list(submission_ids),),
    ).fetchall()


def consents(conn: Connection, subject_id: UUID) -> list[dict[str, Any]]:
    current = conn.execute(
        "SELECT purpose, granted, policy_version, source, granted_at, withdrawn_at, updated_at FROM consents"
        " WHERE human_id = %s ORDER BY purpose", (subject_id,),
    ).fetchall()
    events = conn.execute(
        "SELECT purpose, action, policy_version, source, created_at FROM consent_events WHERE human_id = %s"
        " ORDER BY id", (subject_id,),
    ).fetchall()
    by_purpose: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_purpose.setdefault(e["purpose"], []).append(e)
    listed = [{**c, "history": by_purpose.pop(c["purpose"], [])} for c in current]
    # history of a purpose without a current record (should not happen, but is the subject's all the same)
    listed += [{"purpose": p, "granted": None, "history": h} for p, h in sorted(by_purpose.items())]
    return listed


def erase_consents(conn: Connection, subject_id: UUID, tombstone_id: UUID) -> dict[str, int]:
    deleted = conn.execute("DELETE FROM consents WHERE human_id = %s", (subject_id,)).rowcount
    kept = conn.execute("UPDATE consent_events SET human_id = %s WHERE human_id = %s",
                        (tombstone_id, subject_id)).rowcount
    return {"consents_deleted": deleted, "consent_events_anonymised": kept}


# --- erasure --------------------------------------------------------------------------------------


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
