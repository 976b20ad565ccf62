"""Reading the journal at volume: how a window splits between the hourly rollup and the journal, the
catch-up chunks, the verification batches, the sink's shards and the ledger_mismatch alert rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import alert_rules
from chalicelib.domain.economy import ROLLUP_CHUNK, ROLLUP_SETTLE, floor_hour, rollup_chunks, split_window
from chalicelib.domain.ledger import SINK, is_sink, verify_batches

T0 = datetime(2026, 3, 1, tzinfo=UTC)
instants = st.integers(min_value=0, max_value=10 * 24 * 3600 * 1000).map(lambda ms: T0 + timedelta(milliseconds=ms))


@given(start=instants, length=st.integers(0, 5 * 24 * 3600), watermark=st.none() | instants)
def test_a_window_is_covered_exactly_once_by_whole_rolled_up_hours_and_journal_ranges(
    start: datetime, length: int, watermark: datetime | None,
) -> None:
    end = start + timedelta(seconds=length)
    split = split_window(start, end, watermark)
    pieces = sorted(([split.rolled] if split.rolled else []) + list(split.direct))
    # Given the pieces in order, When they are laid end to end, Then they tile [start, end) exactly
    if end > start:
        assert pieces[0][0] == start and pieces[-1][1] == end
        assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
        assert all(lo < hi for lo, hi in pieces)
    else:
        assert pieces == []
    if split.rolled is not None:
        lo, hi = split.rolled
        assert watermark is not None and hi <= watermark  # only hours the rollup holds
        assert lo == floor_hour(lo) and hi == floor_hour(hi)  # whole hours
    # the journal is read for at most the partial first hour and the tail after the rollup
    assert len(split.direct) <= 2
    if split.rolled is not None and split.direct and split.direct[0][1] == split.rolled[0]:
        assert split.direct[0][1] - split.direct[0][0] < timedelta(hours=1)


@given(watermark=instants, now=instants)
def test_catching_up_rolls_up_every_settled_hour_in_bounded_chunks(watermark: datetime, now: datetime) -> None:
    chunks = rollup_chunks(watermark, now)
    target = floor_hour(now - ROLLUP_SETTLE)
    if floor_hour(watermark) >= target:
        assert chunks == []
        return
    assert chunks[0][0] == floor_hour(watermark) and chunks[-1][1] == target
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert all(timedelta(0) < hi - lo <= ROLLUP_CHUNK for lo, hi in chunks)


@given(after=st.integers(0, 10_000), count=st.integers(0, 10_000), size=st.integers(1, 3_000))
def test_verification_batches_cover_each_leg_id_once(after: int, count: int, size: int) -> None:
    batches = verify_batches(after, after + count, size)
    covered = [i for lo, hi in batches for i in range(lo + 1, hi + 1)]
    assert covered == list(range(after + 1, after + count + 1))
    assert all(hi - lo <= size for lo, hi in batches)


def test_the_sink_counts_its_shards_and_nothing_else() -> None:
    assert is_sink(SINK) and is_sink(f"{SINK}:0") and is_sink(f"{SINK}:15")
    assert not is_sink("system:faucet") and not is_sink("system:sinkhole") and not is_sink("agent:system:sink")


def test_ledger_mismatch_fires_critical_with_the_problems_and_clears_on_a_clean_pass() -> None:
    found = [{"account": "agent:1", "stored": 7, "rebuilt": 0},
             {"account": "agent:2", "leg": 9, "problem": "broken chain"}]
    firing = alert_rules.ledger_mismatch(found, accounts_checked=3, legs_checked=10)
    assert firing.state == "firing" and firing.finding is not None
    assert firing.finding.severity == "critical" and firing.finding.tier == 1
    assert firing.finding.details["count"] == 2
    assert firing.finding.details["problems"] == ["balance", "broken chain"]
    clean = alert_rules.ledger_mismatch([], accounts_checked=3, legs_checked=10)
    assert clean.state == "ok" and clean.subjects == ("ledger_mismatch",)
