"""Operational alert rules (DESIGN section 10) as pure functions of measured figures.

Each rule returns a `Check`: ``firing`` with the alert to raise, ``ok``, or ``unknown`` when the
data to judge it is missing or too thin (a rate over three events is noise, not a signal). Only
``ok`` lets the engine resolve an alert the rule raised earlier; ``unknown`` changes nothing.
Rates are exact fractions compared with fractions. Tier 1 alerts escalate after 15 minutes without
acknowledgement, tier 2 after 4 hours; tier 3 never escalates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Literal
from uuid import UUID

from chalicelib.domain.gates import MAX_CONSENSUS_P95_MS, percentile, rate

Severity = Literal["warning", "critical"]
State = Literal["firing", "ok", "unknown"]

# Alert tiers (seed 002): tier 1 pages at once and escalates after 15 min, tier 2 after 4 h.
TIER_FOR: dict[Severity, int] = {"critical": 1, "warning": 2}
ESCALATE_AFTER: dict[int, timedelta] = {1: timedelta(minutes=15), 2: timedelta(hours=4)}
DEDUP_WINDOW = timedelta(hours=1)

# Thresholds (DESIGN section 10, seeds 001 and 002).
FALSE_NEGATIVE_MAX = Fraction(5, 100)
FALSE_NEGATIVE_WINDOW = timedelta(hours=24)
CONSENSUS_P95_MAX_MS = MAX_CONSENSUS_P95_MS
CONSENSUS_WINDOW = timedelta(hours=1)
SPOT_CHECK_DISAGREEMENT_MAX = Fraction(10, 100)
SPOT_CHECK_WINDOW = timedelta(hours=24)
QUORUM_FAILURE_MAX = Fraction(5, 100)
QUORUM_WINDOW = timedelta(hours=24)
VALIDATOR_POOL_MIN = 20
INSUFFICIENT_VALIDATORS_MAX = Fraction(10, 100)
INSUFFICIENT_WINDOW = timedelta(hours=1)
DB_POOL_WARN = Fraction(70, 100)
DB_POOL_CRITICAL = Fraction(90, 100)
SLOW_QUERY_WARN_MS = 500
SLOW_QUERY_CRITICAL_MS = 1000
SLOW_QUERY_WINDOW = timedelta(minutes=5)
OUTBOX_AGE_WARN_S = 300
# Layer B calls that ended in an error (overloaded, timed out, unusable answer): every one sends a
# submission to human review, so a burst is an outage of the model, not noise.
LAYER_B_ERROR_MAX = Fraction(20, 100)
LAYER_B_ERROR_WINDOW = timedelta(minutes=10)
MIN_LAYER_B_CALLS = 5
STALE_JOB_FACTOR = 3  # a job is stalled when its last good run is older than 3 cadences

# Below these counts a rate is unknown: too few events to mean anything.
MIN_SPOT_CHECKS = 20
MIN_CONSENSUS_ROUNDS = 20
MIN_ROUTED = 10
MIN_LATENCY_SAMPLES = 5

RULES = (
    "false_negatives", "consensus_latency", "spot_check_disagreement", "quorum_failures", "validator_pool",
    "insufficient_validators", "dlq_growth", "db_pool", "slow_queries", "outbox_backlog", "scheduler_stalled",
    "late_photos",
    "layer_b_errors",
)
# Raised by the flows that see them (the economy snapshot, the Layer B budget); the engine only
# delivers, escalates and lists them.
EXTERNAL_RULES = (
    "economy_ratio_out_of_band", "economy_hardship_rate", "economy_ratio_low_3_days", "economy_starter_grant_spike",
    "layer_b_budget_80", "layer_b_budget_exhausted", "privacy_retention_failing", "delivery_failed",
    "ledger_mismatch",
)


@dataclass(frozen=True)
class Finding:
    """An alert to raise: deduplicated by `dedup_key` (the rule, unless a rule has several subjects)."""

    rule: str
    severity: Severity
    title: str
    details: dict[str, Any]
    dedup_key: str

    @property
    def tier(self) -> int:
        return TIER_FOR[self.severity]


@dataclass(frozen=True)
class Check:
    rule: str
    state: State
    finding: Finding | None = None
    detail: str = ""
    subjects: tuple[str, ...] = field(default=())  # dedup keys this check speaks for (resolving)

    @property
    def firing(self) -> bool:
        return self.state == "firing"


def _ok(rule: str, detail: str, subjects: tuple[str, ...] = ()) -> Check:
    return Check(rule, "ok", None, detail, subjects or (rule,))


def _unknown(rule: str, detail: str) -> Check:
    return Check(rule, "unknown", None, detail, ())


def _fire(rule: str, severity: Severity, title: str, details: dict[str, Any], key: str | None = None) -> Check:
    finding = Finding(rule, severity, title, details, key or rule)
    return Check(rule, "firing", finding, title, (finding.dedup_key,))


def _pct(value: Fraction | float) -> str:
    return f"{float(value) * 100:.1f} %"


def _rate_rule(
    rule: str, part: int, whole: int, *, maximum: Fraction, minimum_sample: int, severity: Severity,
    what: str, window: timedelta,
) -> Check:
    share = rate(part, whole)
    hours = int(window.total_seconds() // 3600)
    if share is None or whole < minimum_sample:
        return _unknown(rule, f"{whole} {what} in {hours} h (need {minimum_sample})")
    details = {"count": part, "total": whole, "rate": float(share), "threshold": float(maximum),
               "window_hours": hours}
    if share > maximum:
        return _fire(rule, severity, f"{rule.replace('_', ' ')} at {_pct(share)} over {hours} h "
                     f"(threshold {_pct(maximum)})", details)
    return _ok(rule, f"{_pct(share)} of {whole} {what}")


# --- the rules ------------------------------------------------------------------------------------


def false_negatives(false_negatives: int, checked: int) -> Check:
    """Peers (or the machines) approved what should have been rejected: spot-check false negatives plus
    admin overturns of automatic approvals, over the decisions checked in 24 h. Critical above 5 %."""
    return _rate_rule("false_negatives", false_negatives, checked, maximum=FALSE_NEGATIVE_MAX,
                      minimum_sample=MIN_SPOT_CHECKS, severity="critical", what="checked decisions",
                      window=FALSE_NEGATIVE_WINDOW)


def consensus_latency(latencies_ms: Sequence[float]) -> Check:
    """Consensus p95 (nearest rank) over the last hour above 15 s: warning."""
    rule = "consensus_latency"
    if len(latencies_ms) < MIN_LATENCY_SAMPLES:
        return _unknown(rule, f"{len(latencies_ms)} consensus decisions in the last hour")
    p95 = percentile(latencies_ms, 95)
    assert p95 is not None
    if p95 > CONSENSUS_P95_MAX_MS:
        return _fire(rule, "warning", f"consensus p95 {p95 / 1000:.1f} s over the last hour (threshold "
                     f"{CONSENSUS_P95_MAX_MS / 1000:g} s)",
                     {"p95_ms": p95, "samples": len(latencies_ms), "threshold_ms": CONSENSUS_P95_MAX_MS})
    return _ok(rule, f"p95 {p95:.0f} ms over {len(latencies_ms)} decisions")


def spot_check_disagreement(disagreements: int, completed: int) -> Check:
    """Layer B disagreed with the peers on more than 10 % of the spot checks of 24 h: warning."""
    return _rate_rule("spot_check_disagreement", disagreements, completed, maximum=SPOT_CHECK_DISAGREEMENT_MAX,
                      minimum_sample=MIN_SPOT_CHECKS, severity="warning", what="completed spot checks",
                      window=SPOT_CHECK_WINDOW)


def quorum_failures(timeouts: int, rounds: int) -> Check:
    """More than 5 % of the consensus rounds of 24 h closed by quorum timeout: warning."""
    return _rate_rule("quorum_failures", timeouts, rounds, maximum=QUORUM_FAILURE_MAX,
                      minimum_sample=MIN_CONSENSUS_ROUNDS, severity="warning", what="consensus rounds",
                      window=QUORUM_WINDOW)


def validator_pool(active_validators: int, *, peer_validation_enabled: bool) -> Check:
    """Fewer than 20 active validators while peer validation is on: warning."""
    rule = "validator_pool"
    if not peer_validation_enabled:
        return _ok(rule, "peer validation is off")
    if active_validators < VALIDATOR_POOL_MIN:
        return _fire(rule, "warning", f"validator pool has {active_validators} active validators "
                     f"(minimum {VALIDATOR_POOL_MIN})",
                     {"active": active_validators, "minimum": VALIDATOR_POOL_MIN})
    return _ok(rule, f"{active_validators} active validators")


def insufficient_validators(insufficient: int, routed: int) -> Check:
    """More than 10 % of the peer-routed submissions of the last hour found fewer than a quorum of
    eligible validators (Layer B decided them instead): critical."""
    return _rate_rule("insufficient_validators", insufficient, routed, maximum=INSUFFICIENT_VALIDATORS_MAX,
                      minimum_sample=MIN_ROUTED, severity="critical", what="peer-routed submissions",
                      window=INSUFFICIENT_WINDOW)


def dlq_growth(depths: Mapping[str, int | None], previous: Mapping[str, int], dead_outbox_last_hour: int) -> Check:
    """Messages are being dead-lettered: a dead-letter queue deeper than at the last check, or outbox
    messages parked in the last hour. Critical: each one is work the pipeline gave up on."""
    rule = "dlq_growth"
    grown = {q: d for q, d in depths.items() if d is not None and d > previous.get(q, 0)}
    if grown or dead_outbox_last_hour > 0:
        parts = [f"{q} {previous.get(q, 0)} -> {d}" for q, d in sorted(grown.items())]
        if dead_outbox_last_hour:
            parts.append(f"{dead_outbox_last_hour} outbox messages dead in the last hour")
        return _fire(rule, "critical", "dead letters growing: " + "; ".join(parts),
                     {"grown": grown, "previous": dict(previous), "dead_outbox_last_hour": dead_outbox_last_hour})
    known = {q: d for q, d in depths.items() if d is not None}
    return _ok(rule, f"no growth ({sum(known.values())} dead letters held)")


def layer_b_errors(errors: int, calls: int, latest_failed: int = 0) -> Check:
    """Layer B is failing (the API overloaded, timing out, answering nonsense): critical, each failure
    is a submission sent to human review. Fires when more than 20 % of the last 10 minutes' calls
    failed (at least 5 calls), or when the latest 5 calls all failed (an outage that has just begun,
    however many good calls came before it). `latest_failed`: how many of the latest calls, newest
    first, failed in a row."""
    rule = "layer_b_errors"
    share = rate(errors, calls)
    details = {"errors": errors, "calls": calls, "latest_failed_in_a_row": latest_failed,
               "rate": float(share) if share is not None else None, "threshold": float(LAYER_B_ERROR_MAX),
               "window_minutes": 10}
    if latest_failed >= MIN_LAYER_B_CALLS:
        return _fire(rule, "critical", f"Layer B failing: the latest {latest_failed} calls all failed "
                     f"({errors} of {calls} in 10 min)", details)
    if share is None or calls < MIN_LAYER_B_CALLS:
        return _unknown(rule, f"{calls} Layer B calls in 10 min (need {MIN_LAYER_B_CALLS})")
    if share > LAYER_B_ERROR_MAX:
        return _fire(rule, "critical", f"Layer B failing: {errors} of {calls} calls in 10 min ({_pct(share)})",
                     details)
    return _ok(rule, f"{_pct(share)} of {calls} Layer B calls failed")


def db_pool(in_use: int, maximum: int) -> Check:
    """Connections in use of the pool's (or the server's) maximum: warning from 70 %, critical from 90 %."""
    rule = "db_pool"
    share = rate(min(in_use, maximum), maximum)
    if share is None:
        return _unknown(rule, "no pool")
    details = {"in_use": in_use, "maximum": maximum, "used": float(share),
               "warning": float(DB_POOL_WARN), "critical": float(DB_POOL_CRITICAL)}
    if share >= DB_POOL_CRITICAL:
        return _fire(rule, "critical", f"database connections at {_pct(share)} ({in_use}/{maximum})", details)
    if share >= DB_POOL_WARN:
        return _fire(rule, "warning", f"database connections at {_pct(share)} ({in_use}/{maximum})", details)
    return _ok(rule, f"{in_use}/{maximum} connections in use")


def slow_queries(durations_ms: Sequence[float], slowest_statement: str | None = None) -> Check:
    """Statements of the last 5 minutes: warning when one took 500 ms or more, critical from 1000 ms."""
    rule = "slow_queries"
    if not durations_ms:
        return _ok(rule, "no slow statements in the last 5 minutes")
    worst = max(durations_ms)
    details = {"count": len(durations_ms), "max_ms": worst, "statement": (slowest_statement or "")[:300],
               "warning_ms": SLOW_QUERY_WARN_MS, "critical_ms": SLOW_QUERY_CRITICAL_MS}
    if worst >= SLOW_QUERY_CRITICAL_MS:
        return _fire(rule, "critical", f"{len(durations_ms)} slow statements, slowest {worst:.0f} ms", details)
    if worst >= SLOW_QUERY_WARN_MS:
        return _fire(rule, "warning", f"{len(durations_ms)} slow statements, slowest {worst:.0f} ms", details)
    return _ok(rule, f"slowest statement {worst:.0f} ms")


def outbox_backlog(oldest_unsent_age_s: float | None) -> Check:
    """The oldest unsent outbox message is older than 5 minutes: the relay is stuck. Warning."""
    rule = "outbox_backlog"
    if oldest_unsent_age_s is None or oldest_unsent_age_s <= OUTBOX_AGE_WARN_S:
        return _ok(rule, "outbox is moving" if oldest_unsent_age_s is None else
                   f"oldest unsent message {oldest_unsent_age_s:.0f} s old")
    return _fire(rule, "warning", f"oldest unsent outbox message is {oldest_unsent_age_s / 60:.0f} min old",
                 {"age_s": oldest_unsent_age_s, "threshold_s": OUTBOX_AGE_WARN_S})


def late_photos(late: int, oldest_waiting_s: float | None, ids: Sequence[str] = ()) -> Check:
    """Photos still waiting for the privacy stage after their lease and one sweep: the stage or its
    sweep is stuck, and uploaded evidence is neither published nor refused. Warning."""
    rule = "late_photos"
    if late <= 0:
        return _ok(rule, "no photo is late in the privacy stage")
    minutes = (oldest_waiting_s or 0.0) / 60
    return _fire(rule, "warning", f"{late} photo{'s' if late != 1 else ''} late in the privacy stage, "
                 f"the oldest waiting {minutes:.0f} min", {"late": late, "oldest_waiting_s": oldest_waiting_s,
                                                           "evidence_ids": list(ids)})


def ledger_mismatch(mismatches: Sequence[Mapping[str, Any]], accounts_checked: int, legs_checked: int) -> Check:
    """The nightly full verification found the books wrong: a stored balance that is not the sum of
    its legs, a broken chain of balances, a leg that does not move its amount, or an entry that does
    not sum to zero. Critical: money is unaccounted for until someone explains it."""
    rule = "ledger_mismatch"
    if not mismatches:
        return _ok(rule, f"{accounts_checked} accounts and {legs_checked} legs verified")
    kinds = sorted({str(m.get("problem", "balance")) for m in mismatches})
    return _fire(rule, "critical", f"ledger verification found {len(mismatches)} problem"
                 f"{'s' if len(mismatches) != 1 else ''} ({', '.join(kinds)})",
                 {"count": len(mismatches), "problems": kinds, "first": [dict(m) for m in mismatches[:10]],
                  "accounts_checked": accounts_checked, "legs_checked": legs_checked})


@dataclass(frozen=True)
class JobHealth:
    name: str
    every_seconds: int
    last_ok_at: datetime | None
    first_seen_at: datetime | None  # the first recorded run: a job never run is judged from there
    consecutive_failures: int

    @property
    def since(self) -> datetime | None:
        """When the job last succeeded; for a job that never has, its first recorded run."""
        return self.last_ok_at or self.first_seen_at

    def stale(self, now: datetime) -> bool:
        """Stalled: its last good run (or first record) is older than STALE_JOB_FACTOR cadences."""
        since = self.since
        return since is not None and now - since > timedelta(seconds=self.every_seconds * STALE_JOB_FACTOR)


def scheduler_stalled(jobs: Sequence[JobHealth], now: datetime) -> list[Check]:
    """Per job: critical when its last good run is older than 3 cadences (a job that has never run
    is judged from the first record of any run, so a fresh deployment does not alert)."""
    checks = []
    for job in jobs:
        key = f"scheduler_stalled:{job.name}"
        since = job.since
        if since is None:
            checks.append(Check("scheduler_stalled", "unknown", None, f"{job.name}: no runs recorded", ()))
            continue
        age = now - since
        if job.stale(now):
            checks.append(_fire("scheduler_stalled", "critical",
                                f"scheduled job {job.name} has not succeeded for {_duration(age)}",
                                {"job": job.name, "last_ok_at": job.last_ok_at, "every_seconds": job.every_seconds,
                                 "consecutive_failures": job.consecutive_failures}, key))
        else:
            checks.append(_ok("scheduler_stalled", f"{job.name} ran {_duration(age)} ago", (key,)))
    return checks


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 7200:
        return f"{seconds // 3600} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# --- acknowledgement and escalation ---------------------------------------------------------------


def escalation_due(*, tier: int, status: str, created_at: datetime, escalated_at: datetime | None,
                   now: datetime) -> bool:
    """An open (unacknowledged) alert escalates once, 15 min (tier 1) or 4 h (tier 2) after it opened."""
    if status != "open" or escalated_at is not None:
        return False
    after = ESCALATE_AFTER.get(tier)
    return after is not None and now - created_at >= after


@dataclass(frozen=True)
class RaisedAlert:
    id: UUID
    created: bool  # False when the occurrence was folded into an existing alert


@dataclass(frozen=True)
class AlertMessage:
    alert_id: str
    event: str  # raised | escalated
    rule: str
    severity: str
    tier: int
    title: str
    details: dict[str, Any]
    console_url: str
    runbook: str

    @property
    def subject(self) -> str:
        prefix = "ESCALATED " if self.event == "escalated" else ""
        return f"{prefix}[{self.severity.upper()}] peerguard: {self.title}"[:100]

    def text(self) -> str:
        lines = [self.subject, "", f"rule: {self.rule} (tier {self.tier})", f"alert: {self.alert_id}",
                 f"runbook: {self.runbook}", f"acknowledge: {self.console_url}"]
        lines += [f"{k}: {v}" for k, v in sorted(self.details.items())]
        return "\n".join(lines)
