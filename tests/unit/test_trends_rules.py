"""Pure rules of trends and exports: percentiles, shares, the score distribution, which days the job
aggregates, tiers at a day's end, range bounds, and the CSV/JSON encoders (RFC 4180 round trips)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import statistics
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import exports, trends

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@given(st.lists(finite, min_size=1, max_size=200), st.floats(min_value=0, max_value=100),
       st.floats(min_value=0, max_value=100))
def test_a_percentile_lies_within_the_values_and_never_decreases_as_p_grows(values: list[float], p: float,
                                                                            q: float) -> None:
    low, high = sorted((p, q))
    assert min(values) <= trends.percentile(values, low) <= trends.percentile(values, high) <= max(values)


@given(st.lists(finite, min_size=1, max_size=200))
def test_p0_is_the_minimum_p100_the_maximum_and_p50_the_median(values: list[float]) -> None:
    assert trends.percentile(values, 0) == min(values)
    assert trends.percentile(values, 100) == max(values)
    assert trends.percentile(values, 50) == pytest.approx(statistics.median(values), rel=1e-9, abs=1e-6)


@given(st.lists(finite, min_size=1, max_size=50), st.randoms())
def test_a_percentile_does_not_depend_on_the_order_of_the_values(values: list[float], rnd: object) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    for p in (10, 50, 90):
        assert trends.percentile(shuffled, p) == trends.percentile(values, p)


def test_a_percentile_of_nothing_or_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        trends.percentile([], 50)
    for p in (-1, 101, float("nan")):
        with pytest.raises(ValueError):
            trends.percentile([1.0], p)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10_000))
def test_a_share_is_within_0_and_1_and_none_without_a_whole(a: int, b: int) -> None:
    part, whole = sorted((a, b))
    got = trends.share(part, whole)
    if whole == 0:
        assert got is None
    else:
        assert got is not None and 0 <= got <= 1 and got == part / whole


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=300))
def test_the_score_distribution_is_ordered_and_its_share_below_60_counts_exactly(scores: list[int]) -> None:
    dist = trends.score_distribution(scores)
    assert dist is not None
    assert 0 <= dist.p10 <= dist.p50 <= dist.p90 <= 100
    assert dist.share_below_60 == sum(1 for s in scores if s < 60) / len(scores)
    assert dist.agents == len(scores)
    assert trends.score_distribution([]) is None


@given(st.one_of(st.none(), days), days, st.one_of(st.none(), days), st.integers(min_value=1, max_value=500))
def test_the_days_to_aggregate_are_whole_past_days_in_order_without_gaps_or_repeats(
    last: date | None, today: date, earliest: date | None, max_days: int,
) -> None:
    got = trends.days_to_aggregate(last, today, earliest=earliest, max_days=max_days)
    assert len(got) <= max_days
    assert all(d < today for d in got)  # today is not over
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(got))
    if last is not None:
        assert all(d > last for d in got)
        # nothing missed: every day after the last done up to yesterday, within the bound
        if last < today - timedelta(days=1) and last >= today - timedelta(days=max_days):
            assert got and got[0] == last + timedelta(days=1) and got[-1] == today - timedelta(days=1)


def test_a_first_run_starts_at_the_first_data_day_and_a_run_after_an_outage_catches_up() -> None:
    today = date(2026, 12, 5)
    assert trends.days_to_aggregate(None, today, earliest=date(2026, 12, 1)) == [
        date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]
    assert trends.days_to_aggregate(date(2026, 12, 4), today, earliest=None) == []
    assert trends.days_to_aggregate(date(2026, 12, 2), today, earliest=None) == [date(2026, 12, 3),
                                                                                 date(2026, 12, 4)]
    assert trends.days_to_aggregate(None, today, earliest=None) == [date(2026, 12, 4)]


def test_the_tier_at_a_days_end_follows_the_changes_before_it() -> None:
    t = datetime(2026, 12, 1, tzinfo=UTC)
    changes = [(t + timedelta(days=5), "journeyman", "expert"), (t, "apprentice", "journeyman")]
    assert trends.tier_at(t - timedelta(hours=1), "expert", changes) == "apprentice"
    assert trends.tier_at(t + timedelta(days=1), "expert", changes) == "journeyman"
    assert trends.tier_at(t + timedelta(days=6), "expert", changes) == "expert"
    assert trends.tier_at(t, "journeyman", []) == "journeyman"


@given(days, days, st.integers(min_value=1, max_value=400))
def test_a_range_is_accepted_only_in_order_within_its_bound_and_not_in_the_future(start: date, end: date,
                                                                                  bound: int) -> None:
    today = date(2026, 12, 5)
    ok = end >= start and (end - start).days + 1 <= bound and start <= today
    try:
        n = trends.check_range(start, end, today=today, max_days=bound)
    except trends.RangeError:
        assert not ok
    else:
        assert ok and n == (end - start).days + 1


# --- exports ------------------------------------------------------------------------------------

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)


@given(st.lists(st.tuples(text, text, st.integers(min_value=-10**9, max_value=10**9)), max_size=30),
       st.sampled_from([1, 7, 1000, 65536]))
def test_csv_round_trips_through_an_rfc_4180_reader_with_crlf_lines_whatever_the_text(
    rows: list[tuple[str, str, int]], chunk: int,
) -> None:
    items = [{"leg_id": i, "entry_id": i, "created_at": datetime(2026, 1, 1, tzinfo=UTC), "entry_kind": kind,
              "account": account, "agent_id": None, "amount_credits": amount, "balance_after_credits": 0}
             for i, (kind, account, amount) in enumerate(rows)]
    tally = exports.Tally()
    data = b"".join(exports.encode("ledger", items, "csv", tally=tally, chunk_bytes=chunk)).decode()
    assert tally.rows == len(rows) and tally.bytes == len(data.encode()) and tally.done
    parsed = list(csv.reader(io.StringIO(data, newline=""), strict=True))
    assert parsed[0] == list(exports.COLUMNS["ledger"])
    assert len(parsed) == len(rows) + 1
    for (kind, account, amount), line in zip(rows, parsed[1:], strict=True):
        assert line[3] == kind and line[4] == account
        assert Decimal(line[6]) == Decimal(amount) / 1000
        assert line[2] == "2026-01-01T00:00:00.000000Z"
    # every record ends with CRLF; bare LF appears only inside quoted fields
    assert data.endswith("\r\n")


@given(st.lists(text, max_size=20))
def test_text_that_looks_like_a_formula_is_neutralised_in_csv_and_kept_in_json(titles: list[str]) -> None:
    items = [{"submission_id": UUID(int=i), "title": t} for i, t in enumerate(titles)]
    data = b"".join(exports.encode("decisions", items, "csv")).decode()
    parsed = list(csv.DictReader(io.StringIO(data, newline="")))
    for title, row in zip(titles, parsed, strict=True):
        assert not row["title"].startswith(("=", "+", "-", "@", "\t", "\r"))
        assert row["title"] in (title, "'" + title)
    as_json = json.loads(b"".join(exports.encode("decisions", items, "json")))
    assert [item["title"] for item in as_json] == titles
    assert all(list(item) == list(exports.COLUMNS["decisions"]) for item in as_json)


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=300), st.sampled_from([16, 4096]))
def test_json_is_one_array_of_objects_and_chunks_stay_near_their_size(n: int, chunk: int) -> None:
    items = [{"day": date(2026, 1, 1), "metric": "submissions", "series": f"s{i}", "value": i / 3} for i in range(n)]
    chunks = list(exports.encode("trends", items, "json", chunk_bytes=chunk))
    assert all(len(c) < chunk + 200 for c in chunks)
    parsed = json.loads(b"".join(chunks))
    assert parsed == [{"day": "2026-01-01", "metric": "submissions", "series": f"s{i}", "value": i / 3}
                      for i in range(n)]


def test_values_take_the_export_conventions() -> None:
    assert exports.iso(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"
    assert exports.credits(1500) == "1.500" and exports.credits(-2) == "-0.002"
    assert exports.csv_field("categories", ["a", "b"]) == "a;b"
    assert exports.csv_field("agent_id", None) == ""
    assert exports.filename("ledger", date(2026, 1, 1), date(2026, 1, 31), "csv") == \
        "peerguard-ledger-2026-01-01-2026-01-31.csv"
