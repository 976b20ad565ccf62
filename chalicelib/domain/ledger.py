"""Pure rules of the double-entry ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Leg:
    """One side of a movement: `amount` millicredits added to (or, negative, taken from) an account."""

    account_code: str
    amount: int


def check_balanced(legs: Sequence[Leg]) -> None:
    """Raise ValueError unless the legs are non-zero integers summing to zero on distinct accounts."""
    if any(not isinstance(leg.amount, int) or isinstance(leg.amount, bool) for leg in legs):
        raise ValueError("ledger amounts are integer millicredits")
    if any(leg.amount == 0 for leg in legs):
        raise ValueError("a ledger leg never moves zero")
    if sum(leg.amount for leg in legs) != 0:
        raise ValueError("a journal entry must sum to zero")
    if len({leg.account_code for leg in legs}) != len(legs):
        raise ValueError("one leg per account in an entry")


def transfer(from_code: str, to_code: str, amount: int) -> list[Leg]:
    """The two legs moving `amount` (> 0) from one account to another."""
    if amount <= 0:
        raise ValueError("a transfer moves a positive amount")
    return [Leg(from_code, -amount), Leg(to_code, amount)]


def agent_account(agent_id: object) -> str:
    return f"agent:{agent_id}"


FAUCET = "system:faucet"
SINK = "system:sink"


@dataclass(frozen=True)
class PostedEntry:
    entry_id: int
    idempotency_key: str
    kind: str
    created: bool  # False when the key had been posted before: nothing moved this time
