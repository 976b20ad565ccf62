"""Traffic routing between Layer B and peer consensus, spot checks, and the traffic-raise gate.

Routing is a pure function of the submission id and the flags: the bucket is the first 8 hex
digits of SHA-256(id) mod 100, so a submission always lands in the same bucket and raising the
percentage only ever moves submissions from Layer B to peers, never back.
"""

from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from chalicelib.domain.consensus import Outcome, Verdict

Path = Literal["layer_b", "peer"]
PeerOutcome = Literal["approved", "rejected"]
Disagreement = Literal["false_negative", "false_positive", "missed_flag"]

SPOT_CHECK_PCT = 5
MIN_SHADOW_AGREEMENT = Fraction(4, 5)
MIN_SHADOW_COMPARISONS = 100


SPOT_CHECK_OPEN_STATUSES = ("pending", "submitting", "batched")  # a spot check not yet answered

def _bucket(key: str) -> int:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100


def routing_bucket(submission_id: str) -> int:
    """The submission's routing bucket in [0, 100)."""
    return _bucket(submission_id)


def spot_check_bucket(submission_id: str) -> int:
    """The submission's spot-check bucket in [0, 100), independent of its routing bucket."""
    return _bucket(submission_id + "spot")


@dataclass(frozen=True)
class RoutingInput:
    submission_id: str
    agent_verified: bool
    is_mission: bool
    peer_enabled: bool
    traffic_pct: int
    agent_compliance_ok: bool = True


@dataclass(frozen=True)
class RouteDecision:
    """Where a submission goes. ``shadow``: peers evaluate it too, but Layer B decides."""

    path: Path
    bucket: int
    reason: str
    shadow: bool


def _ineligibility(inp: RoutingInput) -> str | None:
    if not inp.agent_verified:
        return "agent_not_verified"
    if inp.is_mission:
        return "mission"
    if not inp.agent_compliance_ok:
        return "agent_compliance"
    return None


def route(inp: RoutingInput) -> RouteDecision:
    """Route one submission.

    Peer path if and only if peer validation is enabled, the bucket is below ``traffic_pct``,
    the agent is verified and compliant, and the submission is not a mission. Everything else
    goes to Layer B; it is a shadow evaluation when peers are enabled and the agent is eligible.
    """
    bucket = routing_bucket(inp.submission_id)
    if not inp.peer_enabled:
        return RouteDecision("layer_b", bucket, "peer_validation_disabled", shadow=False)
    ineligible = _ineligibility(inp)
    if ineligible is not None:
        return RouteDecision("layer_b", bucket, ineligible, shadow=False)
    if bucket < inp.traffic_pct:
        return RouteDecision("peer", bucket, "bucket_below_traffic_pct", shadow=False)
    return RouteDecision("layer_b", bucket, "bucket_at_or_above_traffic_pct", shadow=True)


def is_spot_checked(submission_id: str, pct: int = SPOT_CHECK_PCT) -> bool:
    """Whether Layer B re-evaluates this peer-decided submission (about ``pct`` % of them)."""
    return spot_check_bucket(submission_id) < pct


def spot_check_agrees(peer_outcome: PeerOutcome, layer_b_decision: Verdict) -> tuple[bool, Disagreement | None]:
    """Compare a peer outcome with Layer B's re-evaluation.

    Agreement: both approved, or peers rejected and Layer B rejected or flagged. Otherwise the
    disagreement is typed: peers approved what Layer B rejected (false_negative) or flagged
    (missed_flag), or peers rejected what Layer B approved (false_positive).
    """
    if peer_outcome == "approved":
        if layer_b_decision == "approved":
            return True, None
        if layer_b_decision == "rejected":
            return False, "false_negative"
        if layer_b_decision == "flagged":
            return False, "missed_flag"
    elif peer_outcome == "rejected":
        if layer_b_decision in ("rejected", "flagged"):
            return True, None
        if layer_b_decision == "approved":
            return False, "false_positive"
    raise ValueError(f"cannot compare peer {peer_outcome!r} with Layer B {layer_b_decision!r}")


def shadow_agrees(consensus_outcome: Outcome, layer_b_decision: Verdict) -> bool:
    """Whether peers' consensus on a shadow submission agrees with the Layer B decision that applied.

    Approved agrees with approved; rejected with rejected or flagged (both keep it unpublished, as
    in :func:`spot_check_agrees`); escalated only with flagged (both hand it to humans).
    """
    if consensus_outcome == "approved":
        return layer_b_decision == "approved"
    if consensus_outcome == "rejected":
        return layer_b_decision in ("rejected", "flagged")
    if consensus_outcome == "escalated":
        return layer_b_decision == "flagged"
    raise ValueError(f"unknown consensus outcome {consensus_outcome!r}")


def _check_pct(name: str, pct: int) -> None:
    if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
        raise ValueError(f"{name} must be an integer percentage in [0, 100], got {pct!r}")


def _check_fraction(name: str, value: Fraction) -> None:
    # Fractions compared with fractions: 80 or 0.8 here is a units mistake, not a threshold.
    if isinstance(value, bool) or not isinstance(value, numbers.Rational):
        raise TypeError(f"{name} must be a Fraction in [0, 1], got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")


def traffic_raise_allowed(
    current_pct: int,
    new_pct: int,
    shadow_agreement: Fraction | None,
    comparisons: int,
    forced: bool,
    *,
    min_agreement: Fraction = MIN_SHADOW_AGREEMENT,
    min_comparisons: int = MIN_SHADOW_COMPARISONS,
) -> tuple[bool, str]:
    """The safety gate on ``PEER_VALIDATION_TRAFFIC_PCT``.

    Lowering (or keeping) the percentage is always allowed. Raising it needs evidence: a shadow
    agreement of at least ``min_agreement`` over at least ``min_comparisons`` comparisons. Too
    few comparisons, or no agreement figure at all, refuses the raise as well. A forced raise
    (the operator gives a reason) is always allowed. Agreement is an exact fraction in [0, 1];
    anything else raises, so a percentage can never be compared with a fraction.
    """
    _check_pct("current_pct", current_pct)
    _check_pct("new_pct", new_pct)
    _check_fraction("min_agreement", min_agreement)
    if shadow_agreement is not None:
        _check_fraction("shadow_agreement", shadow_agreement)
    if comparisons < 0:
        raise ValueError(f"comparisons must be >= 0, got {comparisons!r}")

    if new_pct <= current_pct:
        return True, "not_a_raise"
    if forced:
        return True, "forced"
    if shadow_agreement is None or comparisons < min_comparisons:
        return False, f"insufficient_evidence: {comparisons} comparisons, need {min_comparisons}"
    if shadow_agreement < min_agreement:
        return False, (f"shadow_agreement_too_low: {float(shadow_agreement):.4f} < {float(min_agreement):.4f}")
    return True, "shadow_agreement_ok"
