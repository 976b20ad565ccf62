"""Retention: how long each kind of personal data is kept, and what happens when its period ends.

Periods are feature flags (typed, range-checked on every write and read, audited with who, when, old,
new and why). The daily retention job anonymises or deletes what is past its period in bounded
batches; a run that stops half-way leaves the rest for the next run, and a second run over the same
data changes nothing (every step selects only rows still past their period and not yet handled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Action = Literal["delete", "anonymise"]
Unit = Literal["days", "hours"]

# One run handles at most BATCH_SIZE rows per batch and MAX_BATCHES batches per kind: bounded work
# and short transactions; anything left over is taken by the next day's run.
BATCH_SIZE = 500
MAX_BATCHES = 20


@dataclass(frozen=True)
class RetentionKind:
    """A kind of data, the flag that holds its period, and what retention does to it."""

    kind: str
    flag: str
    default: int
    minimum: int
    maximum: int
    unit: Unit
    action: Action
    description: str

    def cutoff(self, now: datetime, period: int) -> datetime:
        """Rows older than this are past their period."""
        return now - (timedelta(hours=period) if self.unit == "hours" else timedelta(days=period))


# The order matters where kinds overlap: a row whose idempotency data is cleared may also be anonymised
# later in the run, and a quarantine leftover may also be old enough to delete. Taking the lighter
# action first makes each count of the dry run exactly what the run then does.
KINDS: tuple[RetentionKind, ...] = (
    RetentionKind("rate_limit_windows", "RETENTION_RATE_LIMIT_DAYS", 1, 1, 30, "days", "delete",
                  "Rate-limit counters (they name keys and client addresses)."),
    RetentionKind("registration_addresses", "RETENTION_REGISTRATION_ADDRESS_DAYS", 90, 2, 3650, "days", "anonymise",
                  "Keyed hashes of the client addresses identities registered from (registration limits, sock "
                  "reports): forgotten, the registration row stays."),
    RetentionKind("idempotency_records", "RETENTION_IDEMPOTENCY_DAYS", 7, 1, 365, "days", "delete",
                  "Idempotency records: submissions' Idempotency-Key and request hash, consumers' processed "
                  "message keys, delivered outbox messages."),
    RetentionKind("rejected_submissions", "RETENTION_REJECTED_SUBMISSIONS_DAYS", 90, 7, 3650, "days", "anonymise",
                  "Rejected submissions: title, body, location and idempotency data scrubbed, decision trail "
                  "reduced to its outcome; the row stays for counts and the ledger."),
    RetentionKind("quarantine_leftovers", "RETENTION_QUARANTINE_DAYS", 2, 1, 30, "days", "delete",
                  "Originals left in quarantine by photos the privacy stage could not clean (kept only for "
                  "operator retries)."),
    RetentionKind("processed_evidence", "RETENTION_EVIDENCE_DAYS", 365, 30, 3650, "days", "delete",
                  "Evidence photos (processed copies) and their records, with coordinates."),
    RetentionKind("attestations", "RETENTION_ATTESTATIONS_DAYS", 365, 30, 3650, "days", "delete",
                  "Humans' attestations of problems (their effects on urgency are kept)."),
    RetentionKind("alert_history", "RETENTION_ALERTS_DAYS", 180, 30, 3650, "days", "delete",
                  "Resolved alerts and their notifications."),
    RetentionKind("privacy_exports", "PRIVACY_EXPORT_TTL_HOURS", 168, 1, 720, "hours", "delete",
                  "Data-subject export archives: the download link expires and the archive is deleted."),
)

BY_KIND = {k.kind: k for k in KINDS}


def flag_definitions() -> list[tuple[str, int, int, int, str]]:
    """(name, default, minimum, maximum, description) of every retention flag, for the flag schema."""
    return [(k.flag, k.default, k.minimum, k.maximum, f"Retention ({k.unit}): {k.description}") for k in KINDS]


def failing_two_days_running(runs: list[tuple[datetime, bool]]) -> bool:
    """True when the latest runs (newest first: start time, ok) failed on two different UTC days with no
    success in between: one bad night is noise, two in a row need a person."""
    failed_days: set[object] = set()
    for started_at, ok in runs:
        if ok:
            break
        failed_days.add(started_at.astimezone(UTC).date())
        if len(failed_days) >= 2:
            return True
    return False
