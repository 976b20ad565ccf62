"""Pure rules of the double-entry ledger."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta


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
SINK = "system:sink"  # the one sink of old: still readable, still counted; new fees go to the shards

# Fees are credited to one of SINK_ACCOUNTS sink accounts (migration 021): with one sink every fee
# updated the same row, whose lock serialised all submissions. The sink's balance is the sum of SINKS.
SINK_ACCOUNTS = 16
SINK_SHARDS: tuple[str, ...] = tuple(f"{SINK}:{n}" for n in range(SINK_ACCOUNTS))
SINKS: tuple[str, ...] = (SINK, *SINK_SHARDS)
SINK_SHARD_PATTERN = SINK + ":%"  # SQL LIKE: the shards of the sink


def sink_for(key: str) -> str:
    """The sink account a fee with this idempotency key is credited to: the same for the same key
    (a retried entry touches the same rows), spread evenly over the SINK_ACCOUNTS shards (CRC-32,
    stable across processes, unlike hash())."""
    return SINK_SHARDS[zlib.crc32(key.encode()) % SINK_ACCOUNTS]


def is_sink(account_code: str) -> bool:
    """Whether the account is the sink or one of its shards."""
    return account_code in SINKS


@dataclass(frozen=True)
class PostedEntry:
    entry_id: int
    idempotency_key: str
    kind: str
    created: bool  # False when the key had been posted before: nothing moved this time


# --- verification in batches ------------------------------------------------------------------------

VERIFY_BATCH_LEGS = 250_000  # legs checked per statement of a full pass
VERIFY_RECENT_LEGS = 200_000  # without a checkpoint, the API checks the chain of the latest legs only
# A full pass checks the legs written before this long ago: by then every transaction that took a
# lower leg id has ended (journal transactions are short), so no leg can later appear below the
# checkpoint.
VERIFY_SETTLE = timedelta(minutes=10)
MAX_REPORTED_MISMATCHES = 100


def verify_batches(after: int, upto: int, size: int = VERIFY_BATCH_LEGS) -> list[tuple[int, int]]:
    """The leg id ranges (lo, hi] covering (after, upto] in order, each at most `size` ids wide."""
    if size <= 0:
        raise ValueError("a batch holds at least one leg")
    return [(lo, min(lo + size, upto)) for lo in range(after, upto, size)]
