"""Collusion: validator pairs who vote alike beyond what honest accuracy explains."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.collusion import PairReport, collusive_pairs
from chalicelib.domain.consensus import Decision, Verdict

Review = tuple[str, str, Decision]
APPROVE: Decision = "approve"
REJECT: Decision = "reject"


def reviews_of(validator: str, decisions: list[Decision], start: int = 0) -> list[Review]:
    return [(f"s{start + i}", validator, d) for i, d in enumerate(decisions)]


def test_a_pair_agreeing_on_more_than_90_percent_of_20_shared_reviews_is_reported() -> None:
    decisions = [APPROVE] * 10 + [REJECT] * 10
    echo: list[Decision] = [*decisions[:19], "approve"]  # 19 of 20 agree: 0.95
    reviews = reviews_of("alice", decisions) + reviews_of("bob", echo) + reviews_of("carol", ["reject"] * 20)
    assert collusive_pairs(reviews) == [PairReport("alice", "bob", 20, 0.95)]


def test_19_shared_reviews_are_not_enough() -> None:
    same: list[Decision] = ["approve"] * 19
    assert collusive_pairs(reviews_of("alice", same) + reviews_of("bob", same)) == []


def test_exactly_90_percent_is_not_reported() -> None:
    decisions: list[Decision] = ["approve"] * 20
    differing = [REJECT] * 2 + [APPROVE] * 18
    assert collusive_pairs(reviews_of("alice", decisions) + reviews_of("bob", differing)) == []


def test_a_repeated_review_counts_once_with_its_last_decision() -> None:
    same: list[Decision] = ["approve"] * 20
    reviews = reviews_of("alice", same) + reviews_of("bob", ["reject"] * 20) + reviews_of("bob", same)
    assert collusive_pairs(reviews) == [PairReport("alice", "bob", 20, 1.0)]


def test_with_ground_truth_honest_accurate_validators_are_not_reported_but_colluders_are() -> None:
    rnd = random.Random(7)
    truth: dict[str, Verdict] = {f"s{i}": rnd.choice(["approved", "rejected"]) for i in range(400)}
    right: dict[Verdict, Decision] = {"approved": "approve", "rejected": "reject", "flagged": "flag"}
    wrong: dict[Verdict, Decision] = {"approved": "reject", "rejected": "approve", "flagged": "approve"}
    reviews: list[Review] = []
    for submission, verdict in truth.items():
        # two honest validators, each independently right 96 % of the time
        for honest in ("hana", "ivan"):
            reviews.append((submission, honest, right[verdict] if rnd.random() < 0.96 else wrong[verdict]))
        # a ring: one picks, the other copies; right only 80 % of the time
        pick = right[verdict] if rnd.random() < 0.8 else wrong[verdict]
        reviews += [(submission, "ring-1", pick), (submission, "ring-2", pick)]

    without_truth = {(r.a, r.b) for r in collusive_pairs(reviews)}
    assert ("hana", "ivan") in without_truth  # honest experts look alike on raw agreement
    with_truth = collusive_pairs(reviews, ground_truth=truth)
    assert [(r.a, r.b) for r in with_truth] == [("ring-1", "ring-2")]
    assert with_truth[0].agreement == 1.0
    assert with_truth[0].shared >= 20


def test_reviews_without_known_truth_are_skipped_when_truth_is_given() -> None:
    same: list[Decision] = ["reject"] * 30
    reviews = reviews_of("alice", same) + reviews_of("bob", same)
    assert collusive_pairs(reviews, ground_truth={}) == []
    truth: dict[str, Verdict] = {f"s{i}": "approved" for i in range(30)}
    assert collusive_pairs(reviews, ground_truth=truth) == [PairReport("alice", "bob", 30, 1.0)]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([f"s{i}" for i in range(30)]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["approve", "reject", "flag"]),
        ),
        unique_by=lambda r: (r[0], r[1]),
        max_size=120,
    ),
    st.randoms(use_true_random=False),
)
def test_reports_do_not_depend_on_review_order(reviews: list[Review], rnd: random.Random) -> None:
    shuffled = list(reviews)
    rnd.shuffle(shuffled)
    reports = collusive_pairs(reviews, min_shared=5, threshold=0.5)
    assert collusive_pairs(shuffled, min_shared=5, threshold=0.5) == reports
    for report in reports:
        assert report.a < report.b
        assert report.shared >= 5
        assert 0.5 < report.agreement <= 1.0
