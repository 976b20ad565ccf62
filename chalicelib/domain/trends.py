"""Pure rules of the daily trends: which days to aggregate, percentiles, shares and ratios, and the
bounds on what a trends or export request may ask for.

A day is a UTC calendar day [00:00, 24:00). Every figure is a float stored under (day, metric, series).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from chalicelib.domain.compliance import THRESHOLD

Metric = Literal[
    "submissions", "decisions", "layer_a_blocks", "compliance", "spot_checks", "economy", "validator_pool",
]
METRICS: tuple[Metric, ...] = (
    "submissions", "decisions", "layer_a_blocks", "compliance", "spot_checks", "economy", "validator_pool",
)
# What each metric's series are (for the docs and the page; some series are open-ended, e.g. categories).
METRIC_SERIES: dict[Metric, str] = {
    "submissions": "<kind>/<route>: route is layer_b, peer, layer_a (blocked at the door) or none (pending)",
    "decisions": "<path>/<outcome>: path is layer_a, layer_b, peer, admin or fallback",
    "layer_a_blocks": "<category>: one of the Layer A categories, plus total",
    "compliance": "p10, p50, p90, share_below_60, agents",
    "spot_checks": "completed, agreed, agreement",
    "economy": "faucet, sink (credits), ratio, hardship_rate",
    "validator_pool": "<tier>: apprentice, journeyman, expert, plus total (active validators at the day's end)",
}

MAX_RANGE_DAYS = 366  # one request reads at most a year of days
MAX_BACKFILL_DAYS = 400  # the first run (or a long outage) aggregates at most this many past days
EXPORT_MAX_RANGE_DAYS = 366
COMPLIANCE_WINDOW_DAYS = 30


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of a day."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def days_to_aggregate(last_done: date | None, today: date, *, earliest: date | None,
                      max_days: int = MAX_BACKFILL_DAYS) -> list[date]:
    """The whole days still to aggregate, oldest first: every day after the last one done up to
    yesterday (today is not over). With nothing done yet, from the earliest day with data. Never more
    than ``max_days`` (the most recent ones), never today or a future day, never a day twice."""
    yesterday = today - timedelta(days=1)
    if last_done is not None:
        start = last_done + timedelta(days=1)
    elif earliest is not None:
        start = earliest
    else:
        start = yesterday
    start = max(start, today - timedelta(days=max_days))
    if start > yesterday:
        return []
    return [start + timedelta(days=i) for i in range((yesterday - start).days + 1)]


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 <= p <= 100) by linear interpolation between closest ranks (numpy's
    default): within [min, max], monotone in p; ValueError on an empty sequence."""
    if not values:
        raise ValueError("no values")
    if not 0 <= p <= 100 or math.isnan(p):
        raise ValueError("p is within [0, 100]")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    result = ordered[low] + (ordered[high] - ordered[low]) * fraction
    return min(max(result, ordered[low]), ordered[high])  # float rounding never leaves the bracket


def share(part: int, whole: int) -> float | None:
    """part / whole in [0, 1]; None when whole is 0 (no data is not 0 %)."""
    if part < 0 or whole < 0 or part > whole:
        raise ValueError("0 <= part <= whole")
    return None if whole == 0 else part / whole


@dataclass(frozen=True)
class ScoreDistribution:
    p10: float
    p50: float
    p90: float
    share_below_60: float
    agents: int

    def figures(self) -> dict[str, float]:
        return {"p10": self.p10, "p50": self.p50, "p90": self.p90, "share_below_60": self.share_below_60,
                "agents": float(self.agents)}


def score_distribution(scores: Sequence[int]) -> ScoreDistribution | None:
    """p10/p50/p90 of compliance scores and the share below the compliance threshold (60); None
    when there are no agents."""
    if not scores:
        return None
    below = sum(1 for s in scores if s < THRESHOLD)
    values = [float(s) for s in scores]
    shared = share(below, len(scores))
    assert shared is not None
    return ScoreDistribution(p10=percentile(values, 10), p50=percentile(values, 50), p90=percentile(values, 90),
                             share_below_60=shared, agents=len(scores))


def tier_at(day_end: datetime, current: str, changes: Sequence[tuple[datetime, str, str]]) -> str:
    """A validator's tier at ``day_end`` from its tier changes (time, old, new), in any order: the new
    tier of the last change before the instant, else the old tier of the first change after it, else
    its current tier."""
    ordered = sorted(changes)
    before = [c for c in ordered if c[0] < day_end]
    if before:
        return before[-1][2]
    if ordered:
        return ordered[0][1]
    return current


class RangeError(ValueError):
    """A date range a request may not ask for."""


def check_range(start: date, end: date, *, today: date, max_days: int = MAX_RANGE_DAYS) -> int:
    """The number of days in [start, end] (both included); RangeError when end is before start, the
    range is longer than ``max_days`` or starts after today."""
    if end < start:
        raise RangeError("'to' is before 'from'")
    days = (end - start).days + 1
    if days > max_days:
        raise RangeError(f"at most {max_days} days per request")
    if start > today:
        raise RangeError("'from' is in the future")
    return days
