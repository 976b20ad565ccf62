"""Peer consensus (Layer B'): the one rule that turns validator votes into a decision.

Arithmetic is exact (``fractions.Fraction``): a vote weighs ``TIER_WEIGHT[tier] * confidence``,
and a side wins when its share of the total weight is at least 2/3, compared exactly, so a
2-of-3 majority of equal weights (share exactly 2/3) decides instead of escalating.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
