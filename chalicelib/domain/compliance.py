"""The agent compliance score: how much human and machine correction an agent's content needed lately.

    score = max(0, 100 - 10 x Layer A blocks - 3 x admin overturns - 1 x flags), over 30 days

Below 60 an agent loses the peer path and validator duty. Pure: the service counts, this scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.layer_b import DEFAULT_THRESHOLDS, Assessment, Thresholds, decide

WINDOW = timedelta(days=30)
MAX_SCORE = 100
THRESHOLD = 60  # a score below this is not compliant
LAYER_A_BLOCK_WEIGHT = 10
ADMIN_OVERTURN_WEIGHT = 3
FLAG_WEIGHT = 1


@dataclass(frozen=True)
class ComplianceCounts:
    """What counts against an agent within the window.

    - ``layer_a_blocks``: submissions hard-blocked by Layer A, unless a reviewer overturned the block;
    - ``admin_overturns``: automatic approvals a reviewer overturned to a rejection;
    - ``flags``: submissions Layer B sent to human review because of their content (see
      :func:`counts_as_flag`).
    """

    layer_a_blocks: int = 0
    admin_overturns: int = 0
    flags: int = 0

    def __post_init__(self) -> None:
        for name in ("layer_a_blocks", "admin_overturns", "flags"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def score(counts: ComplianceCounts) -> int:
    """The score in [0, 100]; never increases when any count grows."""
    penalty = (
        LAYER_A_BLOCK_WEIGHT * counts.layer_a_blocks
        + ADMIN_OVERTURN_WEIGHT * counts.admin_overturns
        + FLAG_WEIGHT * counts.flags
    )
    return max(0, MAX_SCORE - penalty)


def is_compliant(value: int) -> bool:
    """Whether a score keeps the peer path and validator duty (60 and above)."""
    return value >= THRESHOLD


def counts_as_flag(layer_b_verdict: Mapping[str, Any]) -> bool:
    """Whether a stored Layer B verdict (the ``layer_b`` trail entry) is a flag against the agent.

    Only flags the content earned count: the verdict is ``flagged`` and the same assessment
    would have been flagged for a verified agent too, under the thresholds then in force.
    Flags caused by the agent being new, or by Layer B failing or its budget being spent (no
    assessment), are the platform's caution, not the agent's fault, and do not count.
    """
    if layer_b_verdict.get("decision") != "flagged":
        return False
    raw = layer_b_verdict.get("assessment")
    if not isinstance(raw, Mapping):
        return False
    try:
        assessment = Assessment.model_validate(dict(raw))
    except ValidationError:
        return False
    return decide(assessment, "verified", _thresholds(layer_b_verdict.get("thresholds"))) == "flagged"


def _thresholds(raw: object) -> Thresholds:
    if not isinstance(raw, Mapping):
        return DEFAULT_THRESHOLDS
    try:
        return Thresholds(
            approve=float(raw["approve"]),
            flag=float(raw["flag"]),
            harm_warn=float(raw["harm_warn"]),
            harm_block=float(raw["harm_block"]),
        )
    except (KeyError, TypeError, ValueError):
        return DEFAULT_THRESHOLDS
