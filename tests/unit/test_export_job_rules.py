"""Pure rules of export jobs: an export written page by page is the streamed export byte for byte,
the estimate, the per-admin cap, who reads a job, progress, keyset cursors and object keys."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import export_jobs as rules
from chalicelib.domain import exports

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
ROW = st.fixed_dictionaries({
    "leg_id": st.integers(1, 10**12), "entry_id": st.integers(1, 10**12),
    "created_at": st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                               timezones=st.just(UTC)),
    "entry_kind": TEXT, "account": TEXT, "agent_id": st.none() | st.uuids(),
    "amount_credits": st.integers(-10**9, 10**9), "balance_after_credits": st.integers(0, 10**9),
})


@given(rows=st.lists(ROW, max_size=30), cuts=st.lists(st.integers(0, 30), max_size=5),
       fmt=st.sampled_from(["csv", "json"]))
def test_pages_joined_with_the_head_and_tail_are_the_streamed_export(rows: list[dict[str, Any]], cuts: list[int],
                                                                     fmt: exports.ExportFormat) -> None:
    # Given the rows cut into pages anywhere (a job's pages and parts fall where they fall)
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    pages = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    written = exports.head("ledger", fmt)
    done = 0
    for page in pages:
        written += exports.encode_rows("ledger", page, fmt, first=done == 0)
        done += len(page)
    written += exports.tail(fmt, any_rows=done > 0)
    # Then the pieces are exactly what the stream sends
    assert written.encode() == b"".join(exports.encode("ledger", rows, fmt, chunk_bytes=64))
    if fmt == "json":
        assert len(json.loads(written)) == len(rows)


@given(rows=st.integers(0, 10**8), sample_rows=st.integers(1, rules.SAMPLE_ROWS),
       per_row=st.integers(1, 5_000), frame=st.integers(0, 400))
def test_the_estimate_is_the_frame_plus_the_sample_average_for_every_row(rows: int, sample_rows: int, per_row: int,
                                                                         frame: int) -> None:
    estimate = rules.estimate_bytes(rows=rows, sample_rows=sample_rows, sample_bytes=per_row * sample_rows,
                                    frame_bytes=frame)
    assert estimate == frame + rows * per_row
    assert rules.needs_job(estimate) == (estimate > rules.JOB_THRESHOLD_BYTES)


def test_an_empty_range_is_estimated_at_its_frame_and_never_becomes_a_job() -> None:
    assert rules.estimate_bytes(rows=0, sample_rows=0, sample_bytes=0, frame_bytes=120) == 120
    assert not rules.needs_job(120)


@given(st.integers(0, 50))
def test_an_admin_starts_a_job_while_fewer_than_two_are_unfinished(unfinished: int) -> None:
    assert rules.may_start(unfinished) == (unfinished < 2)


@given(st.uuids(), st.uuids())
def test_only_the_key_that_asked_reads_a_job(owner: uuid.UUID, caller: uuid.UUID) -> None:
    assert rules.may_read(owner, owner)
    assert rules.may_read(owner, caller) == (owner == caller)


@given(rows=st.integers(0, 10**7), estimated=st.integers(0, 10**7),
       status=st.sampled_from(rules.STATUSES))
def test_progress_stays_within_0_and_100_and_is_100_only_when_the_job_succeeded(rows: int, estimated: int,
                                                                                status: rules.JobStatus) -> None:
    value = rules.progress(rows, estimated_rows=estimated, status=status)
    assert 0 <= value <= 100
    assert (value == 100) == (status == "succeeded")


@given(attempts=st.integers(0, 10))
def test_a_job_is_given_up_at_its_third_failed_attempt(attempts: int) -> None:
    assert rules.is_final(attempts) == (attempts >= 3)


@given(attempts=st.integers(1, 50))
def test_a_failed_run_is_retried_sooner_than_the_queue_would_and_later_each_time(attempts: int) -> None:
    delay = rules.retry_delay_s(attempts)
    assert 30 <= delay <= 900 and delay <= rules.retry_delay_s(attempts + 1)


def test_a_part_is_cut_at_8_mib_and_a_run_keeps_a_minute_back() -> None:
    assert not rules.should_cut(rules.PART_BYTES - 1) and rules.should_cut(rules.PART_BYTES)
    assert rules.PART_BYTES >= 5 * 1024 * 1024  # S3's smallest part but the last
    assert rules.has_time(61) and not rules.has_time(60)


def test_cursors_are_json_ready_in_the_order_of_the_exports_keys() -> None:
    sid = uuid.uuid4()
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert rules.cursor_of("decisions", {"decided_at": at, "submission_id": sid, "title": "x"}) == [
        at.isoformat(), str(sid)]
    assert rules.cursor_of("trends", {"day": date(2026, 1, 2), "metric": "m", "series": "s", "value": 1}) == [
        "2026-01-02", "m", "s"]
    assert rules.cursor_of("ledger", {"leg_id": 42}) == [42]
    assert json.loads(json.dumps(rules.cursor_of("compliance", {"occurred_at": at, "trail_id": 7}))) == [
        at.isoformat(), 7]


@given(st.uuids())
def test_an_object_key_names_its_job_and_lives_under_the_expiring_prefix(job_id: uuid.UUID) -> None:
    key = rules.object_key(job_id, "peerguard-ledger-2026-01-01-2026-01-31.csv")
    assert key.startswith("exports/") and rules.job_id_of_key(key) == job_id
    assert rules.job_id_of_key("exports/2026/01/01/abc/peerguard-ledger.csv") is None
    assert rules.job_id_of_key("exports/jobs/not-a-uuid/file.csv") is None


def test_a_finished_file_outlives_no_lifecycle_rule() -> None:
    finished = datetime(2026, 1, 1, tzinfo=UTC)
    # the export bucket deletes exports/ after 3 days (infra/storage.yaml ExpireExports)
    assert rules.expires_at(finished) - finished < timedelta(days=3)
