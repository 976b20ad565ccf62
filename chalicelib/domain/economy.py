"""Pure rules of the credit economy: costs, rewards, hardship, economic health (amounts in millicredits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Literal

from chalicelib.domain.money import MILLI
from chalicelib.domain.registration import grant_spike

SubmissionKind = Literal["problem", "solution", "debate"]
ValidatorTier = Literal["apprentice", "journeyman", "expert"]

BASE_COST: dict[str, int] = {"problem": 2 * MILLI, "solution": 5 * MILLI, "debate": 1 * MILLI}
MIN_COST = 1 * MILLI
HARDSHIP_THRESHOLD = 10 * MILLI
BASE_REWARD: dict[str, int] = {"apprentice": 500, "journeyman": 750, "expert": 1000}


def _scale(amount: int, multiplier: float | Decimal) -> int:
    """amount x multiplier rounded half-even to a whole millicredit (the float's shortest decimal is used,
    so 1.1 means exactly 1.1)."""
    factor = Decimal(str(multiplier))
    if not factor.is_finite() or factor < 0:
        raise ValueError("multipliers are finite and never negative")
    return int((Decimal(amount) * factor).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def submission_cost(kind: str, multiplier: float | Decimal) -> int:
    """Base cost of the kind times the multiplier in whole millicredits, never below one credit."""
    return max(MIN_COST, _scale(BASE_COST[kind], multiplier))


def in_hardship(balance: int) -> bool:
    """Agents below 10 credits submit for free."""
    return balance < HARDSHIP_THRESHOLD


def validation_reward(tier: str, multiplier: float | Decimal) -> int:
    """Reward of one timely evaluation by the validator's tier at assignment time (may be 0)."""
    return _scale(BASE_REWARD[tier], multiplier)


# --- economic health -----------------------------------------------------------------------------

RatioState = Literal["defined", "no_sink", "idle"]
Severity = Literal["warning", "critical"]

RATIO_LOW = Fraction(7, 10)
RATIO_HIGH = Fraction(13, 10)
HARDSHIP_ALERT_RATE = Fraction(15, 100)
STARVATION_RATIO = Fraction(1, 2)
STARVATION_DAYS = 3


def faucet_sink_ratio(faucet: int, sink: int) -> Fraction | None:
    """faucet / sink, exact; None when nothing was sunk (the ratio is then undefined, see ratio_state)."""
    if sink <= 0:
        return None
    return Fraction(faucet, sink)


def ratio_state(faucet: int, sink: int) -> RatioState:
    """'defined' when sink > 0; otherwise 'no_sink' if the faucet paid anything, else 'idle'."""
    if sink > 0:
        return "defined"
    return "no_sink" if faucet > 0 else "idle"


def hardship_rate(hardship_agents: int, agents_total: int) -> Fraction:
    """Share of agents in hardship; 0 when there are no agents."""
    if agents_total <= 0:
        return Fraction(0)
    return Fraction(hardship_agents, agents_total)


def rounded(value: Fraction, places: int = 4) -> Decimal:
    """A fraction as a decimal rounded half-even to `places` (for storage and display only)."""
    quantum = Decimal(1).scaleb(-places)
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(quantum, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class HealthFigures:
    """One window of the economy, in millicredits and counts."""

    faucet: int  # paid out of the faucet in the window, starter grants excluded
    starter_grants: int  # starter grants paid in the window (reported apart, never faucet)
    sink: int  # fees taken into the sink in the window (net of any refunds)
    active_agents: int  # agents with a movement (or a hardship waiver) in the window
    agents_total: int  # agents holding an account
    hardship_agents: int  # agents whose balance is below the hardship threshold
    median_balance: int  # lower median of agent balances (an actual balance: whole millicredits)

    @property
    def ratio(self) -> Fraction | None:
        return faucet_sink_ratio(self.faucet, self.sink)

    @property
    def ratio_state(self) -> RatioState:
        return ratio_state(self.faucet, self.sink)

    @property
    def hardship_rate(self) -> Fraction:
        return hardship_rate(self.hardship_agents, self.agents_total)


@dataclass(frozen=True)
class EconomyAlert:
    rule: str
    severity: Severity
    title: str
    details: dict[str, object]


def health_alerts(figures: HealthFigures, daily: Sequence[tuple[int, int]] = (),
                  grant_baseline: Sequence[int] | None = None) -> list[EconomyAlert]:
    """The economy alert rules over one window's figures and the last days' (faucet, sink) pairs.

    - ratio outside [0.70, 1.30] (exact fractions): a defined ratio out of band, or faucet with no
      sink at all (an unbounded ratio) -> warning; an idle window raises nothing;
    - hardship rate above 15 % (strictly) -> warning;
    - ratio below 0.50 on each of the last 3 days (`daily`, oldest first, one (faucet, sink) pair per
      day; a day with no sink has no ratio and breaks the run) -> critical;
    - starter grants spiking: more than 20 grants' worth in the window and more than 3x the median of
      the earlier windows (`grant_baseline`, None: not evaluated) -> warning (a registration farm).
    """
    alerts: list[EconomyAlert] = []
    ratio = figures.ratio
    state = figures.ratio_state
    if (ratio is not None and not RATIO_LOW <= ratio <= RATIO_HIGH) or state == "no_sink":
        alerts.append(EconomyAlert(
            rule="economy_ratio_out_of_band", severity="warning",
            title="Faucet/sink ratio outside 0.70-1.30",
            details={"ratio": None if ratio is None else str(rounded(ratio)), "ratio_state": state,
                     "faucet": figures.faucet, "sink": figures.sink},
        ))
    rate = figures.hardship_rate
    if rate > HARDSHIP_ALERT_RATE:
        alerts.append(EconomyAlert(
            rule="economy_hardship_rate", severity="warning",
            title="More than 15 % of agents are in hardship",
            details={"hardship_rate": str(rounded(rate)), "hardship_agents": figures.hardship_agents,
                     "agents_total": figures.agents_total},
        ))
    if starved(daily):
        last = daily[-STARVATION_DAYS:]
        alerts.append(EconomyAlert(
            rule="economy_ratio_low_3_days", severity="critical",
            title="Faucet/sink ratio below 0.50 three days running",
            details={"days": [{"faucet": f, "sink": s, "ratio": str(rounded(Fraction(f, s)))} for f, s in last]},
        ))
    if grant_baseline is not None and grant_spike(figures.starter_grants, grant_baseline):
        alerts.append(EconomyAlert(
            rule="economy_starter_grant_spike", severity="warning",
            title="Starter grants spiking (registration farm?)",
            details={"starter_grants": figures.starter_grants, "baseline": list(grant_baseline)},
        ))
    return alerts


def starved(daily: Sequence[tuple[int, int]]) -> bool:
    """True when each of the last STARVATION_DAYS days has a defined ratio below 0.50."""
    if len(daily) < STARVATION_DAYS:
        return False
    for faucet, sink in daily[-STARVATION_DAYS:]:
        ratio = faucet_sink_ratio(faucet, sink)
        if ratio is None or ratio >= STARVATION_RATIO:
            return False
    return True


# --- the hourly rollup of the journal --------------------------------------------------------------

ROLLUP_HOUR = timedelta(hours=1)
# Hours are rolled up only once no transaction can still add a leg to them: journal transactions are
# short (the API's statement timeout is 15 s), so an hour ended 10 minutes ago is settled.
ROLLUP_SETTLE = timedelta(minutes=10)
ROLLUP_CHUNK = timedelta(days=1)  # hours recomputed per transaction while catching up
# Days rolled up per run of the hourly job (about a second each at 10 M legs): a first backfill of
# months spreads over a few runs and each run stays within the job's time limit.
ROLLUP_CHUNKS_PER_RUN = 14


def floor_hour(at: datetime) -> datetime:
    """`at` truncated to its UTC hour."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    floored = floor_hour(at)
    return floored if floored == at else floored + ROLLUP_HOUR


@dataclass(frozen=True)
class WindowSplit:
    """How to read [start, end) from the rollup and the journal: the whole hours of `rolled` from the
    rollup (None: none), every range of `direct` from the journal's legs. Together they cover the
    window exactly once."""

    rolled: tuple[datetime, datetime] | None
    direct: tuple[tuple[datetime, datetime], ...]


def split_window(start: datetime, end: datetime, watermark: datetime | None) -> WindowSplit:
    """Split [start, end) into whole rolled-up hours (before `watermark`) and the rest: the partial
    hour at the start, and the tail from the last rolled-up hour (or the partial hour) to `end`."""
    if end <= start:
        return WindowSplit(None, ())
    if watermark is None:
        return WindowSplit(None, ((start, end),))
    first = ceil_hour(start)
    last = min(floor_hour(end), floor_hour(watermark))
    if first >= last:
        return WindowSplit(None, ((start, end),))
    direct = tuple((a, b) for a, b in ((start, first), (last, end)) if a < b)
    return WindowSplit((first, last), direct)


def rollup_chunks(watermark: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """The hour ranges still to roll up after `watermark` at `now`, oldest first, each at most
    ROLLUP_CHUNK long; empty when every settled hour is rolled up."""
    target = floor_hour(now - ROLLUP_SETTLE)
    chunks: list[tuple[datetime, datetime]] = []
    lo = floor_hour(watermark)
    while lo < target:
        hi = min(lo + ROLLUP_CHUNK, target)
        chunks.append((lo, hi))
        lo = hi
    return chunks
