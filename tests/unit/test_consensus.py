"""Peer consensus: exact 2/3 shares of tier-weighted votes, and the replay benchmark around it."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.consensus import (
    OVER_ASSIGN,
    QUORUM,
    TIER_WEIGHT,
    AssignmentRequest,
    Candidate,
    ConsensusOutcome,
    Decision,
    Tier,
    Vote,
    assign,
    decide,
    distance_km,
)

TIERS: tuple[Tier, ...] = get_args(Tier)
DECISIONS: tuple[Decision, ...] = get_args(Decision)

confidences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
positive_confidences = st.floats(min_value=0.01, max_value=1.0, allow_nan=False)


@st.composite
def ballots(draw: st.DrawFn, min_size: int = 0, max_size: int = 8, flags: bool = True) -> list[Vote]:
    size = draw(st.integers(min_value=min_size, max_value=max_size))
    return [
        Vote(
            validator_id=f"v{i}",
            tier=draw(st.sampled_from(TIERS)),
            decision=draw(st.sampled_from(DECISIONS)),
            confidence=draw(confidences),
            safety_flagged=draw(st.booleans()) if flags else False,
        )
        for i in range(size)
    ]


def vote(i: int, decision: Decision, tier: Tier = "apprentice", confidence: float = 1.0) -> Vote:
    return Vote(validator_id=f"v{i}", tier=tier, decision=decision, confidence=confidence)


# --- properties ---------------------------------------------------------------------------


@given(ballots(), st.randoms(use_true_random=False))
def test_the_order_of_votes_never_changes_the_outcome(votes: list[Vote], rnd: random.Random) -> None:
    shuffled = list(votes)
    rnd.shuffle(shuffled)
    assert decide(shuffled) == decide(votes)


@given(ballots())
def test_shares_are_fractions_of_the_whole(votes: list[Vote]) -> None:
    result = decide(votes)
    shares = (result.approve_share, result.reject_share, result.flag_share)
    assert all(0 <= share <= 1 for share in shares)
    if result.total_weight > 0:
        assert sum(shares) == 1
    else:
        assert sum(shares) == 0
        assert result.outcome == "escalated"


@given(
    st.sampled_from(["approve", "reject"]),
    st.lists(st.tuples(st.sampled_from(TIERS), positive_confidences), min_size=QUORUM, max_size=6),
)
def test_a_unanimous_unflagged_quorum_always_decides(decision: Decision, members: list[tuple[Tier, float]]) -> None:
    votes = [vote(i, decision, tier, confidence) for i, (tier, confidence) in enumerate(members)]
    result = decide(votes)
    assert result.outcome == ("approved" if decision == "approve" else "rejected")


@given(st.sampled_from(TIERS), positive_confidences, st.sampled_from(["approve", "reject"]))
def test_two_of_three_equal_weights_decide(tier: Tier, confidence: float, majority: Decision) -> None:
    # Defect 13: with a 0.67 float threshold, 2 of 3 (0.6667) escalated; 2/3 means 2/3.
    minority: Decision = "reject" if majority == "approve" else "approve"
    votes = [vote(0, majority, tier, confidence), vote(1, majority, tier, confidence)]
    votes.append(vote(2, minority, tier, confidence))
    result = decide(votes)
    assert result.outcome == ("approved" if majority == "approve" else "rejected")
    share = result.approve_share if majority == "approve" else result.reject_share
    assert share == Fraction(2, 3)
    assert float(share) < 0.67  # the comparison the earlier system got wrong


@given(ballots(min_size=QUORUM), st.data())
def test_any_safety_flag_escalates(votes: list[Vote], data: st.DataObject) -> None:
    flagged = data.draw(st.integers(min_value=0, max_value=len(votes) - 1))
    votes[flagged] = Vote(
        votes[flagged].validator_id, votes[flagged].tier, votes[flagged].decision, 1.0, safety_flagged=True
    )
    result = decide(votes)
    assert result.outcome == "escalated"
    assert result.reason == "safety_flag"


@given(ballots(min_size=QUORUM, flags=False), st.sampled_from(TIERS), positive_confidences)
def test_one_more_approval_never_undoes_an_approval(votes: list[Vote], tier: Tier, confidence: float) -> None:
    before = decide(votes)
    after = decide([*votes, vote(len(votes), "approve", tier, confidence)])
    if before.outcome == "approved":
        assert after.outcome == "approved"
    assert after.approve_share >= before.approve_share


@given(ballots())
def test_to_dict_is_json_and_exact(votes: list[Vote]) -> None:
    result = decide(votes)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["outcome"] == result.outcome
    assert Fraction(payload["approve_share"]) == result.approve_share
    assert Fraction(payload["reject_share"]) == result.reject_share
    assert Fraction(payload["flag_share"]) == result.flag_share
    assert Fraction(payload["total_weight"]) == result.total_weight
    assert payload["approve_share_float"] == pytest.approx(float(result.approve_share))


# --- worked examples ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("votes", "outcome", "approve_share"),
    [
        # a journeyman (3/2) outvoted by two apprentices (1 + 1): 2 / (7/2) = 4/7 < 2/3
        (
            [vote(0, "approve"), vote(1, "approve"), vote(2, "reject", "journeyman")],
            "escalated",
            Fraction(4, 7),
        ),
        # an expert (2) outweighs two half-confident apprentices (1/2 + 1/2): 2/3 exactly
        (
            [
                vote(0, "reject", confidence=0.5),
                vote(1, "reject", confidence=0.5),
                vote(2, "approve", "expert"),
            ],
            "approved",
            Fraction(2, 3),
        ),
        # expert + apprentice (3) against a journeyman (3/2): 3 / (9/2) = 2/3
        (
            [vote(0, "approve", "expert"), vote(1, "approve"), vote(2, "reject", "journeyman")],
            "approved",
            Fraction(2, 3),
        ),
        # decimal confidences add up exactly: 0.2 + 0.2 against 0.1 + 0.1
        (
            [
                vote(0, "approve", confidence=0.2),
                vote(1, "approve", confidence=0.2),
                vote(2, "reject", confidence=0.1),
                vote(3, "flag", confidence=0.1),
            ],
            "approved",
            Fraction(2, 3),
        ),
        # a flag splits the field: 1 approve, 1 reject, 1 flag decides nothing
        ([vote(0, "approve"), vote(1, "reject"), vote(2, "flag")], "escalated", Fraction(1, 3)),
        # the reject side's share counts alone: 2 rejects and 1 flag reach 2/3
        ([vote(0, "reject"), vote(1, "reject"), vote(2, "flag")], "rejected", Fraction(0)),
    ],
)
def test_worked_examples(votes: list[Vote], outcome: str, approve_share: Fraction) -> None:
    result = decide(votes)
    assert result.outcome == outcome
    assert result.approve_share == approve_share


def test_tier_weights_are_one_three_halves_and_two() -> None:
    assert [TIER_WEIGHT[tier] for tier in TIERS] == [1, Fraction(3, 2), 2]
    assert vote(0, "approve", "journeyman", 0.5).weight == Fraction(3, 4)


def test_fewer_votes_than_the_quorum_escalate() -> None:
    result = decide([vote(0, "approve", "expert"), vote(1, "approve", "expert")])
    assert (result.outcome, result.reason) == ("escalated", "below_quorum")
    assert decide([vote(0, "approve"), vote(1, "approve")], quorum=2).outcome == "approved"


def test_zero_weight_escalates() -> None:
    result = decide([vote(i, "approve", confidence=0.0) for i in range(3)])
    assert result == ConsensusOutcome("escalated", Fraction(0), Fraction(0), Fraction(0), Fraction(0), "zero_weight")


def test_a_validator_counts_once() -> None:
    with pytest.raises(ValueError, match="more than once"):
        decide([vote(0, "approve"), vote(0, "approve"), vote(1, "approve")])


@pytest.mark.parametrize("confidence", [-0.1, 1.01, float("nan"), float("inf")])
def test_confidence_outside_zero_one_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        vote(0, "approve", confidence=confidence)


def test_unknown_tier_or_decision_is_refused() -> None:
    with pytest.raises(ValueError, match="tier"):
        Vote("v0", "master", "approve", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decision"):
        Vote("v0", "expert", "maybe", 1.0)  # type: ignore[arg-type]


# --- assignment -------------------------------------------------------------------------

BERLIN, POTSDAM, MUNICH = (52.52, 13.405), (52.39, 13.06), (48.14, 11.58)
REQUEST = AssignmentRequest(
    submission_id="sub-1",
    submitter_id="author",
    submitter_owner_id="acme",
    recent_validator_ids=frozenset({"recent"}),
    location=BERLIN,
)


def candidate(validator_id: str, owner: str = "", tier: Tier = "apprentice", **kwargs: object) -> Candidate:
    return Candidate(validator_id, owner or f"owner-{validator_id}", tier, **kwargs)  # type: ignore[arg-type]


def test_conflicts_of_interest_are_never_assigned() -> None:
    # Defect 14: agents of the submitter's owner were never excluded
    pool = [
        candidate("author", owner="acme"),
        candidate("sibling", owner="acme", tier="expert"),
        candidate("recent"),
        candidate("suspended", suspended=True),
        candidate("busy", evaluations_today=10),
        *(candidate(f"ok{i}") for i in range(4)),
    ]
    assert sorted(c.validator_id for c in assign(pool, REQUEST)) == ["ok0", "ok1", "ok2", "ok3"]


def test_fewer_eligible_than_a_quorum_assigns_nobody() -> None:
    pool = [candidate("ok0"), candidate("ok1"), candidate("sibling", owner="acme")]
    assert assign(pool, REQUEST) == []


def test_nearby_validators_come_first_and_a_senior_is_included() -> None:
    far = [candidate(f"far{i}", home_regions=(MUNICH,)) for i in range(10)]
    near = [candidate(f"near{i}", home_regions=(POTSDAM,)) for i in range(4)]
    senior = candidate("senior", tier="journeyman", home_regions=(MUNICH,))
    picked = assign([*far, senior, *near], REQUEST)
    assert len(picked) == OVER_ASSIGN
    assert {c.validator_id for c in picked[:4]} == {f"near{i}" for i in range(4)}
    assert senior in picked
    assert distance_km(BERLIN, POTSDAM) == pytest.approx(27, abs=2)
    assert distance_km(BERLIN, MUNICH) == pytest.approx(504, abs=5)


@given(
    st.lists(
        st.tuples(st.sampled_from(["acme", "other", "third"]), st.sampled_from(TIERS), st.integers(0, 12)),
        max_size=20,
    ),
    st.randoms(use_true_random=False),
)
def test_assignment_is_deterministic_and_never_picks_the_submitters_side(
    rows: list[tuple[str, Tier, int]], rnd: random.Random
) -> None:
    pool = [candidate(f"v{i}", owner, tier, evaluations_today=n) for i, (owner, tier, n) in enumerate(rows)]
    picked = assign(pool, REQUEST)
    shuffled = list(pool)
    rnd.shuffle(shuffled)
    assert assign(shuffled, REQUEST) == picked
    assert picked == [] or QUORUM <= len(picked) <= OVER_ASSIGN
    assert all(c.owner_id != "acme" and c.evaluations_today < 10 for c in picked)
    assert len({c.validator_id for c in picked}) == len(picked)
    eligible_seniors = [c for c in pool if c.owner_id != "acme" and c.evaluations_today < 10 and c.tier != "apprentice"]
    if picked and eligible_seniors:
        assert any(c.tier != "apprentice" for c in picked)


# --- the replay benchmark -------------------------------------------------------------------


def load_replay() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "consensus_replay.py"
    spec = importlib.util.spec_from_file_location("consensus_replay", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_replay_decides_two_of_three_and_leaves_short_tasks_undecided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = write(
        tmp_path / "answers.csv",
        "task,worker,label\n"
        "t1,w1,yes\nt1,w2,yes\nt1,w3,no\n"  # 2 of 3: decided (the earlier rule escalated)
        "t2,w1,no\nt2,w2,no\nt2,w3,no\n"  # unanimous
        "t3,w1,yes\nt3,w2,yes\n"  # only two answers: below quorum
        "t4,w1,yes\nt4,w1,yes\nt4,w2,no\nt4,w3,no\n",  # a repeated answer counts once
    )
    gold = write(tmp_path / "gold.csv", "task,label\nt1,yes\nt2,no\nt3,yes\nt4,no\nt5,no\n")

    assert load_replay().main([str(answers), str(gold), "--out-dir", str(tmp_path / "out")]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "accuracy 1.0000 decided 0.6000 majority3 1.0000"
    report = json.loads((tmp_path / "out" / "consensus_replay_answers.json").read_text())
    assert report["items_with_gold"] == 5
    assert report["items_below_quorum"] == 2
    earlier = next(row for row in report["rows"] if row["rule"].startswith("0.67 float, equal weights"))
    assert earlier["decided"] == pytest.approx(1 / 5)


def test_replay_refuses_more_than_two_labels(tmp_path: Path) -> None:
    answers = write(tmp_path / "a.csv", "task,worker,label\nt1,w1,a\nt1,w2,b\nt1,w3,c\n")
    gold = write(tmp_path / "g.csv", "task,label\nt1,a\n")
    with pytest.raises(SystemExit, match="two labels"):
        load_replay().main([str(answers), str(gold), "--out-dir", str(tmp_path)])
