"""Decision gates of the production shift and the shadow-mode go/no-go, computed from figures.

Every gate is a pure function of numbers the services measure; none is typed in by hand. A gate
is ``met``, ``not_met``, or ``unknown`` when the data to judge it does not exist yet: missing data
never counts as met. Rates are exact fractions compared with fractions (a percentage is never
compared with a share).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal

from chalicelib.domain import economy

GateState = Literal["met", "not_met", "unknown"]
GoNoGoVerdict = Literal["go", "no_go", "undecided"]

WINDOW_DAYS = 7
GATE_TRAFFIC_PCT = 50
MAX_FALSE_NEGATIVE_RATE = Fraction(3, 100)
ECONOMY_RATIO_MIN = economy.RATIO_LOW
ECONOMY_RATIO_MAX = economy.RATIO_HIGH
MIN_POOL = 50
MAX_CONSENSUS_P95_MS = 15_000
MAX_HARDSHIP_RATE = economy.HARDSHIP_ALERT_RATE
# A day whose faucet paid out while nothing was sunk: no finite ratio, and out of any range.
NO_SINK = Fraction(10**12)

# Seed 001's go/no-go for leaving shadow mode.
GO_MIN_ALIGNMENT = Fraction(4, 5)
GO_MIN_AVG_F1 = Fraction(4, 5)
GO_MIN_RESPONSE_RATE = Fraction(7, 10)
NO_GO_MIN_ALIGNMENT = Fraction(7, 10)
NO_GO_MAX_QUORUM_TIMEOUT_RATE = Fraction(1, 5)
NO_GO_MIN_ACTIVE_POOL = 10


@dataclass(frozen=True)
class Gate:
    """One criterion: its state, the measured value (None when unknown) and what it needs."""

    name: str
    state: GateState
    value: float | None
    threshold: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _state(ok: bool) -> GateState:
    return "met" if ok else "not_met"


def rate(part: int, whole: int) -> Fraction | None:
    """``part / whole`` exactly, or None without a denominator."""
    if part < 0 or whole < 0 or part > whole:
        raise ValueError(f"a rate needs 0 <= part <= whole, got {part}/{whole}")
    return Fraction(part, whole) if whole else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in (0, 100]) of the values; None for no values."""
    if not 0 < q <= 100:
        raise ValueError("q must be within (0, 100]")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


# --- production-shift decision gates (DESIGN section 10) -------------------------------------


def traffic_gate(traffic_pct: int) -> Gate:
    """Peers decide at least half the eligible traffic."""
    return Gate("traffic", _state(traffic_pct >= GATE_TRAFFIC_PCT), float(traffic_pct),
                f">= {GATE_TRAFFIC_PCT} %", f"PEER_VALIDATION_TRAFFIC_PCT is {traffic_pct} %")


def false_negative_gate(false_negatives: int, spot_checks: int, days_covered: float) -> Gate:
    """False negatives (peers approved what Layer B rejects) below 3 % of spot checks for 7 days.

    Unknown without spot checks, or when the spot checks cover less than the 7-day window.
    """
    share = rate(false_negatives, spot_checks)
    threshold = f"< {float(MAX_FALSE_NEGATIVE_RATE):.0%} over {WINDOW_DAYS} days"
    detail = f"{false_negatives} false negatives in {spot_checks} spot checks over {days_covered:.1f} days"
    if share is None or days_covered < WINDOW_DAYS:
        if share is not None and share >= MAX_FALSE_NEGATIVE_RATE:
            return Gate("false_negatives", "not_met", float(share), threshold, detail)
        return Gate("false_negatives", "unknown", None if share is None else float(share), threshold, detail)
    return Gate("false_negatives", _state(share < MAX_FALSE_NEGATIVE_RATE), float(share), threshold, detail)


def economy_gate(daily_ratios: Sequence[Fraction | None]) -> Gate:
    """The faucet/sink ratio within 0.70-1.30 on each of the last 7 days.

    ``daily_ratios`` holds one entry per day, newest first (None: no ratio that day; ``NO_SINK``:
    credits paid out while none were sunk). Any day out of range fails the gate; fewer than 7
    days with a ratio leave it unknown.
    """
    window = list(daily_ratios[:WINDOW_DAYS])
    known = [r for r in window if r is not None]
    threshold = f"{float(ECONOMY_RATIO_MIN):.2f}-{float(ECONOMY_RATIO_MAX):.2f} for {WINDOW_DAYS} days"
    outside = [r for r in known if not ECONOMY_RATIO_MIN <= r <= ECONOMY_RATIO_MAX]
    latest = float(known[0]) if known and known[0] != NO_SINK else None
    if outside:
        return Gate("economy_ratio", "not_met", latest, threshold,
                    f"{len(outside)} of {len(known)} days out of range")
    if len(known) < WINDOW_DAYS:
        return Gate("economy_ratio", "unknown", latest, threshold,
                    f"{len(known)} of {WINDOW_DAYS} days have an economy snapshot")
    return Gate("economy_ratio", "met", latest, threshold, f"all {WINDOW_DAYS} days in range")


def pool_gate(active_validators: int) -> Gate:
    return Gate("validator_pool", _state(active_validators >= MIN_POOL), float(active_validators),
                f">= {MIN_POOL} active validators", f"{active_validators} active validators")


def consensus_latency_gate(p95_ms: float | None, decisions: int) -> Gate:
    """Consensus p95 (quorum-completing answer to applied decision) below 15 s."""
    threshold = f"p95 < {MAX_CONSENSUS_P95_MS / 1000:g} s"
    if p95_ms is None:
        return Gate("consensus_p95", "unknown", None, threshold, "no consensus decisions in the window")
    return Gate("consensus_p95", _state(p95_ms < MAX_CONSENSUS_P95_MS), p95_ms, threshold,
                f"p95 {p95_ms:.0f} ms over {decisions} decisions")


def hardship_gate(in_hardship: int, agents: int) -> Gate:
    """Fewer than 15 % of agents below the hardship balance."""
    share = rate(in_hardship, agents)
    threshold = f"< {float(MAX_HARDSHIP_RATE):.0%}"
    if share is None:
        return Gate("hardship", "unknown", None, threshold, "no agents")
    return Gate("hardship", _state(share < MAX_HARDSHIP_RATE), float(share), threshold,
                f"{in_hardship} of {agents} agents in hardship")


@dataclass(frozen=True)
class GateReport:
    gates: tuple[Gate, ...]

    @property
    def all_met(self) -> bool:
        return all(g.state == "met" for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {"all_met": self.all_met, "gates": [g.to_dict() for g in self.gates]}


# --- seed 001: go/no-go for leaving shadow mode --------------------------------------------


@dataclass(frozen=True)
class GoNoGo:
    """``go`` when every GO criterion is met and no NO-GO one fails; ``no_go`` when a NO-GO
    criterion fails; ``undecided`` otherwise (e.g. not enough data yet)."""

    verdict: GoNoGoVerdict
    go: tuple[Gate, ...]
    no_go: tuple[Gate, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "go": [g.to_dict() for g in self.go],
                "no_go": [g.to_dict() for g in self.no_go]}


def _at_least(name: str, value: Fraction | None, minimum: Fraction, detail: str) -> Gate:
    threshold = f">= {float(minimum):.2f}"
    if value is None:
        return Gate(name, "unknown", None, threshold, detail)
    return Gate(name, _state(value >= minimum), float(value), threshold, detail)


def go_no_go(
    *,
    agreements: int,
    comparisons: int,
    average_f1: Fraction | None,
    response_rate: Fraction | None,
    quorum_timeouts: int,
    consensus_rounds: int,
    active_validators: int,
    dead_letters: int | None,
) -> GoNoGo:
    """Seed 001's criteria. GO: shadow agreement >= 0.80, average F1 >= 0.80, response rate
    >= 0.70, no dead-lettered message (our measurable "zero critical bugs"). NO-GO: agreement
    < 0.70, quorum timeouts > 20 % of consensus rounds, fewer than 10 active validators."""
    agreement = rate(agreements, comparisons)
    timeouts = rate(quorum_timeouts, consensus_rounds)
    agreement_detail = f"{agreements} of {comparisons} shadow comparisons agree"
    go = (
        _at_least("layer_b_alignment", agreement, GO_MIN_ALIGNMENT, agreement_detail),
        _at_least("average_f1", average_f1, GO_MIN_AVG_F1, "mean F1 of validators with ground truth"),
        _at_least("response_rate", response_rate, GO_MIN_RESPONSE_RATE, "answered / (answered + expired)"),
        Gate("dead_letters", "unknown" if dead_letters is None else _state(dead_letters == 0),
             None if dead_letters is None else float(dead_letters), "= 0", "dead-lettered outbox messages"),
    )
    timeout_threshold = f"<= {float(NO_GO_MAX_QUORUM_TIMEOUT_RATE):.0%}"
    timeout_detail = f"{quorum_timeouts} of {consensus_rounds} consensus rounds timed out"
    no_go = (
        _at_least("layer_b_alignment_floor", agreement, NO_GO_MIN_ALIGNMENT, agreement_detail),
        Gate("quorum_timeouts", "unknown" if timeouts is None else _state(timeouts <= NO_GO_MAX_QUORUM_TIMEOUT_RATE),
             None if timeouts is None else float(timeouts), timeout_threshold, timeout_detail),
        Gate("active_pool", _state(active_validators >= NO_GO_MIN_ACTIVE_POOL), float(active_validators),
             f">= {NO_GO_MIN_ACTIVE_POOL}", f"{active_validators} active validators"),
    )
    if any(g.state == "not_met" for g in no_go):
        verdict: GoNoGoVerdict = "no_go"
    elif all(g.state == "met" for g in (*go, *no_go)):
        verdict = "go"
    else:
        verdict = "undecided"
    return GoNoGo(verdict, go, no_go)
