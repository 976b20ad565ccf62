"""Consent of humans, by purpose: what each purpose covers, its default, and whether it holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Purpose = Literal["location_on_evidence", "contact_for_missions"]
Source = Literal["api", "admin", "import"]
POLICY_VERSION = "2026-12-01"


@dataclass(frozen=True)
class PurposeRule:
    name: Purpose
    description: str
    # What holds while a human has never answered. Location on evidence: sending coordinates with a
    # photo is itself the human's act, so it holds until withdrawn; being contacted needs a yes first.
    default: bool


PURPOSES: dict[str, PurposeRule] = {
    "location_on_evidence": PurposeRule(
        "location_on_evidence",
        "Store the coordinates sent with a photo (kept encrypted) and the photo's coarse location, for the "
        "mission's GPS checks.",
        default=True,
    ),
    "contact_for_missions": PurposeRule(
        "contact_for_missions", "Contact the human about missions near them.", default=False),
}


@dataclass(frozen=True)
class ConsentRecord:
    purpose: str
    granted: bool
    policy_version: str
    source: str
    granted_at: datetime | None
    withdrawn_at: datetime | None


def holds(purpose: str, record: ConsentRecord | None) -> bool:
    """Whether the purpose may be pursued now: the human's last answer, or the purpose's default."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}")
    if record is None:
        return PURPOSES[purpose].default
    return record.granted


def change(record: ConsentRecord | None, purpose: str, *, grant: bool, policy_version: str, source: str,
           now: datetime) -> ConsentRecord | None:
    """The record after a grant or withdrawal; None when nothing changes (same answer, same policy)."""
    if record is not None and record.granted == grant and record.policy_version == policy_version:
        return None
    return ConsentRecord(
        purpose=purpose, granted=grant, policy_version=policy_version, source=source,
        granted_at=now if grant else (record.granted_at if record else None),
        withdrawn_at=(record.withdrawn_at if record else None) if grant else now,
    )
