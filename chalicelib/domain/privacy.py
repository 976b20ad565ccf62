"""Data-subject requests as pure rules: who may ask for what, who may download an export, what the
export holds, and how identifiers are replaced in text when a subject is erased."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

RequestType = Literal["export", "erase"]
Status = Literal["pending", "processing", "completed", "failed"]
TYPES: tuple[RequestType, ...] = ("export", "erase")
STATUSES: tuple[Status, ...] = ("pending", "processing", "completed", "failed")

# A job that failed this many times is marked failed (an operator may file a new request).
MAX_ATTEMPTS = 5

# Exports a subject may ask for per rolling day (each reads everything about them and writes an archive);
# an admin filing on someone's behalf is not limited.
EXPORTS_PER_DAY = 3
EXPORT_WINDOW = timedelta(days=1)

# How long a download link of an export stays valid.
DOWNLOAD_LINK_TTL_S = 300

ERASED_TEXT = "[erased]"


@dataclass(frozen=True)
class Caller:
    role: str  # agent | human | admin
    agent_id: str | None
    owner_id: str | None


@dataclass(frozen=True)
class Subject:
    id: str
    kind: str  # agent | human
    owner_id: str


def speaks_for(caller: Caller, subject: Subject) -> bool:
    """Whether the caller is the data subject (not an admin acting on someone's behalf).

    A human is their own subject: only their own key speaks for them. An agent's personal data is its
    owner's, and the owner acts through any of their agents' keys; a human registered by an agent
    shares that agent's owner id, yet no agent speaks for a human.
    """
    if caller.role == "human":
        return caller.agent_id == subject.id
    if caller.role == "agent":
        return subject.kind == "agent" and caller.owner_id is not None and caller.owner_id == subject.owner_id
    return False


def may_request(caller: Caller, subject: Subject) -> bool:
    """The subject may ask for an export or an erasure of their own data; an admin for anyone."""
    return caller.role == "admin" or speaks_for(caller, subject)


def may_read(caller: Caller, subject: Subject) -> bool:
    """Reading a request's status: the subject and admins."""
    return may_request(caller, subject)


def may_download(caller: Caller, subject: Subject) -> bool:
    """An export's archive is the subject's alone: not even an admin who filed it may download it."""
    return speaks_for(caller, subject)


def export_retry_after(recent: Sequence[datetime], now: datetime, *, per_day: int = EXPORTS_PER_DAY) -> int | None:
    """Seconds until the subject may ask for another export, or None when they may now: `recent` holds
    when their earlier exports were filed (any order)."""
    inside = sorted(t for t in recent if t > now - EXPORT_WINDOW)
    if len(inside) < per_day:
        return None
    frees_at = inside[len(inside) - per_day] + EXPORT_WINDOW
    return max(1, int((frees_at - now).total_seconds()) + 1)


def needs_approval(request_type: RequestType) -> bool:
    """An erasure cannot be undone: it runs only after an admin approved it with a reason."""
    return request_type == "erase"


def may_approve(approver: str, requested_by: str) -> bool:
    """Four eyes: the admin who filed an erasure on someone's behalf does not approve it too."""
    return approver != requested_by


# --- the export archive ---------------------------------------------------------------------------

EXPORT_FILES: dict[str, str] = {
    "account.json": "The identity (agent or human): id, kind, name, description, status, creation time, "
                    "API keys (prefix, role, created, last used, revoked; never the key itself), credit balance "
                    "and, for validators, tier, scores and home regions.",
    "submissions.json": "Every submission: kind, stored (masked) title and body, the original text as written, "
                        "domain, location, status, who decided, cost, times, and its decision trail with other "
                        "people's identities removed.",
    "evaluations.json": "Evaluations the subject made as a validator: submission, decision, confidence, "
                        "reasoning, timing, ground truth and reward.",
    "ledger.json": "Every credit movement of the subject's account: entry kind, amount, balance before and "
                   "after, time (integer millicredits).",
    "evidence.json": "Photo evidence records: mission, pair, sequence, declared and coarse location, privacy "
                     "outcome (metadata removed, faces and plates blurred), status, times; file name of the "
                     "processed photo under photos/.",
    "photos/": "The processed photos (metadata stripped, faces and plates blurred). Originals are never kept.",
    "attestations.json": "Attestations of problems: problem, status, note, time.",
    "consents.json": "Consent records: purpose, policy version, granted and withdrawn times, source.",
    "privacy_requests.json": "The subject's privacy requests and their audit trail (who asked, approved, "
                             "exported, downloaded, when).",
}


def export_readme(subject_id: str, generated_at: str, counts: Mapping[str, int]) -> str:
    """The README.txt at the root of an export archive: what each file holds and how many records."""
    lines = [
        "peerguard: export of personal data",
        "",
        f"Subject: {subject_id}",
        f"Generated at: {generated_at} (UTC)",
        "",
        "Every .json file holds a JSON array of records of one kind. Times are ISO 8601 in UTC; credit",
        "amounts are integer millicredits (1 credit = 1000). Other people's identities are removed.",
        "",
        "Files:",
    ]
    for name, text in EXPORT_FILES.items():
        count = counts.get(name.removesuffix(".json").rstrip("/"))
        suffix = f" ({count} records)" if count is not None else ""
        lines.append(f"- {name}{suffix}: {text}")
    return "\n".join(lines) + "\n"


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
REDACTED = "[redacted]"


def redact_foreign_ids(value: Any, own: frozenset[str]) -> Any:
    """A copy of a JSON value where every UUID that is not one of `own` (the subject's ids and the
    ids of the subject's own records) reads "[redacted]": exports never name other people."""
    if isinstance(value, dict):
        return {k: redact_foreign_ids(v, own) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_foreign_ids(v, own) for v in value]
    if isinstance(value, str):
        return _UUID.sub(lambda m: m.group(0) if m.group(0).lower() in own else REDACTED, value)
    return value


def replace_all(text: str, replacements: Mapping[str, str]) -> str:
    """Every occurrence of each key replaced by its value, longest keys first (one pass, so a value
    is never itself rewritten by a later key)."""
    keys = sorted((k for k in replacements if k), key=len, reverse=True)
    if not keys:
        return text
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return pattern.sub(lambda m: replacements[m.group(0)], text)


def progress(done: int, total: int) -> int:
    """0..100, reaching 100 only when everything is done."""
    if total <= 0:
        return 100
    done = max(0, min(done, total))
    return 100 if done == total else min(99, (100 * done) // total)
