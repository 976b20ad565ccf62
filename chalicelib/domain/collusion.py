"""Collusion detection: pairs of validators who vote alike far more often than chance explains.

Two accurate, honest validators agree often because both agree with the truth; agreement is
only suspicious where the truth does not explain it. Without ground truth the rule looks at
every shared review; with ground truth it looks at the shared reviews where at least one of
the two departed from the truth, where independent validators rarely make the same mistake.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

from chalicelib.domain.consensus import Decision, Verdict

MIN_SHARED_REVIEWS = 20
AGREEMENT_THRESHOLD = 0.90
MAX_PAIRS = 1000  # a report lists at most this many pairs (the worst first) and says when it stopped


@dataclass(frozen=True)
class PairReport:
    """Validators ``a`` < ``b`` agreed on ``agreement`` of their ``shared`` counted reviews."""

    a: str
    b: str
    shared: int
    agreement: float


def _is_correct(decision: Decision, truth: Verdict) -> bool:
    # Flag and reject both keep content unpublished; the rule treats them as the same call.
    if truth == "approved":
        return decision == "approve"
    return decision != "approve"


def collusive_pairs(
    reviews: Iterable[tuple[str, str, Decision]],
    min_shared: int = MIN_SHARED_REVIEWS,
    threshold: float = AGREEMENT_THRESHOLD,
    ground_truth: Mapping[str, Verdict] | None = None,
) -> list[PairReport]:
    """Pairs agreeing on more than ``threshold`` of at least ``min_shared`` shared reviews.

    ``reviews`` are ``(submission_id, validator_id, decision)``; if a validator reviewed a
    submission twice, the last review counts. Agreement means the identical decision. With
    ``ground_truth`` (submission id -> verdict) only the shared reviews on submissions with a
    known truth where at least one of the pair was wrong count. Sorted by agreement, then
    shared reviews (both descending), then ids.
    """
    by_submission: dict[str, dict[str, Decision]] = defaultdict(dict)
    for submission_id, validator_id, decision in reviews:
        by_submission[submission_id][validator_id] = decision

    shared: dict[tuple[str, str], int] = defaultdict(int)
    agreed: dict[tuple[str, str], int] = defaultdict(int)
    for submission_id, decisions in by_submission.items():
        truth: Verdict | None = None
        if ground_truth is not None:
            truth = ground_truth.get(submission_id)
            if truth is None:
                continue
        for a, b in combinations(sorted(decisions), 2):
            da, db = decisions[a], decisions[b]
            if truth is not None and _is_correct(da, truth) and _is_correct(db, truth):
                continue
            shared[a, b] += 1
            agreed[a, b] += da == db

    reports = [
        PairReport(a, b, count, agreed[a, b] / count)
        for (a, b), count in shared.items()
        if count >= min_shared and agreed[a, b] / count > threshold
    ]
    reports.sort(key=lambda r: (-r.agreement, -r.shared, r.a, r.b))
    return reports
