"""Peer consensus (Layer B'): who votes on a submission, and the rule that turns votes into a decision.

``assign`` picks the validators, never the submitter nor any agent of the same owner. ``decide``
turns their votes into approved / rejected / escalated with exact arithmetic
(``fractions.Fraction``): a vote weighs ``TIER_WEIGHT[tier] * confidence``, and a side wins when
its share of the total weight is at least 2/3, compared exactly, so a 2-of-3 majority of equal
weights (share exactly 2/3) decides instead of escalating.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any, Literal, get_args

Decision = Literal["approve", "reject", "flag"]
Tier = Literal["apprentice", "journeyman", "expert"]
Outcome = Literal["approved", "rejected", "escalated"]
# What a trusted source (admin, Layer B) said about a submission.
Verdict = Literal["approved", "rejected", "flagged"]

DECISIONS: tuple[Decision, ...] = get_args(Decision)
TIERS: tuple[Tier, ...] = get_args(Tier)
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

TIER_WEIGHT: dict[Tier, Fraction] = {
    "apprentice": Fraction(1),
    "journeyman": Fraction(3, 2),
    "expert": Fraction(2),
}

SUPERMAJORITY = Fraction(2, 3)
QUORUM = 3
OVER_ASSIGN = 6
EVALUATION_EXPIRY = timedelta(minutes=30)
DAILY_QUOTA = 10
NEARBY_KM = 100.0
RECENT_SUBMISSIONS = 3  # validators of the submitter's last 3 submissions sit this one out
EARTH_RADIUS_KM = 6371.0088


def exact_confidence(confidence: float | Fraction) -> Fraction:
    """The exact rational a confidence stands for: 0.1 is 1/10, not the nearest binary float."""
    if isinstance(confidence, Fraction):
        return confidence
    return Fraction(str(confidence))


@dataclass(frozen=True)
class Vote:
    """One validator's evaluation of a submission."""

    validator_id: str
    tier: Tier
    decision: Decision
    confidence: float
    safety_flagged: bool = False

    def __post_init__(self) -> None:
        if self.tier not in TIER_WEIGHT:
            raise ValueError(f"unknown tier {self.tier!r}")
        if self.decision not in DECISIONS:
            raise ValueError(f"unknown decision {self.decision!r}")
        if isinstance(self.confidence, bool) or not isinstance(self.confidence, int | float | Fraction):
            raise ValueError(f"confidence must be a number, got {self.confidence!r}")
        if not math.isfinite(self.confidence) or not 0 <= self.confidence <= 1:
            raise ValueError(f"confidence must be within [0, 1], got {self.confidence!r}")

    @property
    def weight(self) -> Fraction:
        """Tier weight times confidence, exact."""
        return TIER_WEIGHT[self.tier] * exact_confidence(self.confidence)


def _ratio(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


@dataclass(frozen=True)
class ConsensusOutcome:
    """The result of :func:`decide`; shares are exact and sum to 1 when ``total_weight > 0``."""

    outcome: Outcome
    approve_share: Fraction
    reject_share: Fraction
    flag_share: Fraction
    total_weight: Fraction
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: each exact value as a ``"p/q"`` string plus its float approximation."""
        result: dict[str, Any] = {"outcome": self.outcome, "reason": self.reason}
        for name in ("approve_share", "reject_share", "flag_share", "total_weight"):
            value: Fraction = getattr(self, name)
            result[name] = _ratio(value)
            result[f"{name}_float"] = float(value)
        return result


def decide(votes: Sequence[Vote], *, quorum: int = QUORUM) -> ConsensusOutcome:
    """Decide a submission from its votes.

    Guarantees: pure and independent of vote order; escalates when fewer than ``quorum``
    validators voted, when any vote raised a safety flag, or when the total weight is zero;
    otherwise approves if the approve share is >= 2/3, rejects if the reject share is >= 2/3
    (exact comparisons; both cannot hold) and escalates in every other case.
    Raises ``ValueError`` if one validator appears twice (a vote must count once).
    """
    validators = [vote.validator_id for vote in votes]
    if len(set(validators)) != len(validators):
        raise ValueError("a validator voted more than once")

    weights: dict[Decision, Fraction] = dict.fromkeys(DECISIONS, Fraction(0))
    for vote in votes:
        weights[vote.decision] += vote.weight
    total = sum(weights.values(), Fraction(0))

    def outcome(result: Outcome, reason: str) -> ConsensusOutcome:
        if total == 0:
            zero = Fraction(0)
            return ConsensusOutcome(result, zero, zero, zero, total, reason)
        return ConsensusOutcome(
            outcome=result,
            approve_share=weights["approve"] / total,
            reject_share=weights["reject"] / total,
            flag_share=weights["flag"] / total,
            total_weight=total,
            reason=reason,
        )

    if len(votes) < quorum:
        return outcome("escalated", "below_quorum")
    if any(vote.safety_flagged for vote in votes):
        return outcome("escalated", "safety_flag")
    if total == 0:
        return outcome("escalated", "zero_weight")
    if weights["approve"] / total >= SUPERMAJORITY:
        return outcome("approved", "approve_supermajority")
    if weights["reject"] / total >= SUPERMAJORITY:
        return outcome("rejected", "reject_supermajority")
    return outcome("escalated", "no_supermajority")


# --- assignment ----------------------------------------------------------------------------

LatLng = tuple[float, float]


@dataclass(frozen=True)
class Candidate:
    """A validator in the pool, as assignment sees it."""

    validator_id: str
    owner_id: str
    tier: Tier
    evaluations_today: int = 0
    suspended: bool = False
    home_regions: tuple[LatLng, ...] = ()


@dataclass(frozen=True)
class AssignmentRequest:
    """The submission to assign: who wrote it and where it is about, if anywhere."""

    submission_id: str
    submitter_id: str
    submitter_owner_id: str
    recent_validator_ids: frozenset[str] = frozenset()
    location: LatLng | None = None


def distance_km(a: LatLng, b: LatLng) -> float:
    """Great-circle (haversine) distance between two (lat, lng) points in degrees."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def exclusion_reason(candidate: Candidate, request: AssignmentRequest, daily_quota: int = DAILY_QUOTA) -> str | None:
    """Why a candidate may not review this submission, or None if it may."""
    if candidate.validator_id == request.submitter_id:
        return "submitter"
    if candidate.owner_id == request.submitter_owner_id:
        return "same_owner"
    if candidate.validator_id in request.recent_validator_ids:
        return "reviewed_recent_submission"
    if candidate.suspended:
        return "suspended"
    if candidate.evaluations_today >= daily_quota:
        return "over_quota"
    return None


def _is_nearby(candidate: Candidate, location: LatLng | None) -> bool:
    return location is not None and any(distance_km(home, location) <= NEARBY_KM for home in candidate.home_regions)


def _lottery(submission_id: str, validator_id: str) -> str:
    # Deterministic per submission, uncorrelated across submissions: spreads the load fairly.
    return hashlib.sha256(f"{submission_id}:{validator_id}".encode()).hexdigest()


def assign(
    candidates: Iterable[Candidate],
    request: AssignmentRequest,
    *,
    count: int = OVER_ASSIGN,
    quorum: int = QUORUM,
    daily_quota: int = DAILY_QUOTA,
) -> list[Candidate]:
    """Pick up to ``count`` validators for a submission; empty when fewer than ``quorum`` may review.

    Excluded: the submitter, every agent of the same owner, validators of the submitter's recent
    submissions, suspended and over-quota validators. Among the rest, validators with a home
    region within 100 km of the submission come first, then a per-submission lottery; when the
    pick holds no journeyman or expert but one is eligible, the best-placed one replaces the last
    pick. An empty result means Layer B decides at once: a submission never waits on a quorum
    that cannot form. Deterministic for the same inputs, whatever the candidates' order.
    """
    eligible = [c for c in candidates if exclusion_reason(c, request, daily_quota) is None]
    if len(eligible) < quorum:
        return []
    ranked = sorted(
        eligible,
        key=lambda c: (not _is_nearby(c, request.location), _lottery(request.submission_id, c.validator_id)),
    )
    picked = ranked[:count]
    if picked and all(c.tier == "apprentice" for c in picked):
        senior = next((c for c in ranked[count:] if c.tier != "apprentice"), None)
        if senior is not None:
            picked[-1] = senior
    return picked
