"""What an export reads: everything held about one subject, across the tables of every flow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from chalicelib.adapters.privacy_repo.subject_requests import subject_keys
from chalicelib.db.pool import Connection

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
