"""Pure rules of the credit economy: costs, rewards, hardship (all in millicredits)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from chalicelib.domain.money import MILLI

SubmissionKind = Literal["problem", "solution", "debate"]
ValidatorTier = Literal["apprentice", "journeyman", "expert"]

BASE_COST: dict[str, int] = {"problem": 2 * MILLI, "solution": 5 * MILLI, "debate": 1 * MILLI}
MIN_COST = 1 * MILLI
HARDSHIP_THRESHOLD = 10 * MILLI
BASE_REWARD: dict[str, int] = {"apprentice": 500, "journeyman": 750, "expert": 1000}


def _scale(amount: int, multiplier: float) -> int:
    if multiplier < 0:
        raise ValueError("multipliers are never negative")
    scaled = (Decimal(amount) * Decimal(str(multiplier))).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(scaled)


def submission_cost(kind: str, multiplier: float) -> int:
    """Base cost of the kind times the multiplier, never below one credit."""
    return max(MIN_COST, _scale(BASE_COST[kind], multiplier))


def in_hardship(balance: int) -> bool:
    """Agents below 10 credits submit for free."""
    return balance < HARDSHIP_THRESHOLD


def validation_reward(tier: str, multiplier: float) -> int:
    """Reward of one timely evaluation by the validator's tier at assignment time (may be 0)."""
    return _scale(BASE_REWARD[tier], multiplier)
