"""Export jobs: an export too large to answer inline becomes a job that the export_job worker writes
to S3 (moto) in 8 MiB parts, page by page from its checkpoint; the file an operator downloads is the
streamed export, byte for byte. A run that dies resumes without writing a row twice, a duplicate
delivery changes nothing, a job is its own admin's business, and an admin runs at most two at once."""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import psycopg
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.adapters.job_locks import AdvisoryJobLocks
from chalicelib.config import reset_settings
from chalicelib.domain import export_jobs as job_rules
from chalicelib.entrypoints import workers
from chalicelib.services import export_jobs as job_service
from chalicelib.services import exports as export_service
from chalicelib.services.ports import ExportStore
from tests.client_transport import ChaliceTransport
from tests.support import Api, admin_key, api_client, drain_outbox

DAY = datetime.now(UTC).date() - timedelta(days=2)
BUCKET = "exports-test"
ROWS = 30_000  # about 21 MB of CSV: at least two parts of 8 MiB


def seed(url: str, rows: int, *, day: Any = DAY) -> None:
    """Decided submissions of one agent spread over ``day``, with commas, quotes and line breaks."""
    with psycopg.connect(url, autocommit=True) as conn:
        agent = uuid.uuid4()
        conn.execute("INSERT INTO agents (id, kind, name, owner_id) VALUES (%s, 'agent', 'bulk', gen_random_uuid())",
                     (agent,))
        conn.execute(
            "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by, route_path,"
            " created_at, decided_at, cost_millicredits) SELECT gen_random_uuid(), %s, 'problem',"
            " 'Pump ' || i || ', \"north\" well', repeat('The hand pump leaks; villagers walk 3 km. ', 14)"
            " || chr(10) || i, md5(i::text), 'approved', 'peer', 'peer',"
            " %s::date + (i * 2 || ' seconds')::interval, %s::date + (i * 2 || ' seconds')::interval"
            " + interval '1 second', 2000 FROM generate_series(1, %s) AS i",
            (agent, day, day, rows),
        )


def streamed(kind: str = "decisions", fmt: str = "csv") -> bytes:
    request = export_service.ExportRequest(kind=kind, fmt=fmt, start=DAY, end=DAY)  # type: ignore[arg-type]
    return b"".join(export_service.stream(bootstrap.unit_of_work(), request))


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


@pytest.fixture
def s3(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("EXPORT_STORE", "s3")
    monkeypatch.setenv("EXPORT_BUCKET", BUCKET)
    reset_settings()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def s3_links(s3: Any) -> httpx.MockTransport:
    """Answers presigned GETs of the test bucket from moto (the network stands in for S3)."""

    def handle(request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        query = parse_qs(url.query)
        assert "X-Amz-Signature" in query and query["X-Amz-Expires"] == [str(job_rules.LINK_TTL_S)]
        assert "authorization" not in request.headers  # the link alone opens the file
        bucket = url.netloc.split(".")[0]
        body = s3.get_object(Bucket=bucket, Key=url.path.lstrip("/"))["Body"].read()
        return httpx.Response(200, content=body)

    return httpx.MockTransport(handle)


def job_row(job_id: Any) -> dict[str, Any]:
    with bootstrap.unit_of_work() as uow:
        row = uow.export_jobs.get(uuid.UUID(str(job_id)))
    assert row is not None
    return row


def forever() -> float:
    return 900.0


def run(job_id: Any, store: ExportStore | None = None, **kwargs: Any) -> str:
    return job_service.run_job(bootstrap.unit_of_work(), store or bootstrap.export_store(), AdvisoryJobLocks(),
                               uuid.UUID(str(job_id)), time_left=kwargs.pop("time_left", forever), **kwargs)


def start(admin: str, fmt: str = "csv", kind: str = "decisions") -> dict[str, Any]:
    with api_client() as api:
        answer = api.post("/v1/admin/exports/jobs", key=admin, body={"kind": kind, "from": str(DAY),
                                                                     "to": str(DAY), "format": fmt})
    assert answer.status == 202, answer.body
    return dict(answer.data)


def test_a_large_export_becomes_a_job_whose_downloaded_file_is_the_streamed_export(db: str, s3: Any) -> None:
    from peerguard_client import AdminClient

    from app import app

    # Given 30,000 decisions of a day, about 21 MB as CSV
    seed(db, ROWS)
    admin = admin_key()
    with Client(app, stage_name="test") as chalice_client, AdminClient(
        "http://app.test", api_key=admin, transport=ChaliceTransport(chalice_client)) as client:
        # When the operator asks for the export, the answer is a job, not 21 MB
        raw = chalice_client.http.get(f"/v1/admin/exports/decisions?from={DAY}&to={DAY}&format=csv",
                                      headers={"Authorization": f"Bearer {admin}"})
        assert raw.status_code == 202, raw.body
        job = json.loads(raw.body)["data"]
        assert raw.headers["Location"] == f"/v1/admin/exports/jobs/{job['id']}"
        assert job["status"] == "queued" and job["estimated_rows"] == ROWS
        assert job["estimated_bytes"] > job_rules.JOB_THRESHOLD_BYTES and job["progress"] == 0
        # and the worker writes it (the outbox relays the job's message to the export_job handler)
        assert drain_outbox() >= 1
        done = client.export_job(job["id"])
        assert done.status == "succeeded" and done.progress == 100 and done.rows == ROWS
        assert done.parts >= 2 and done.attempts == 0 and done.error is None and done.expires_at is not None
        # Then the file downloaded through the short-lived link is the streamed export, byte for byte
        link = client.export_job_link(job["id"])
        assert link.filename == f"peerguard-decisions-{DAY}-{DAY}.csv" and link.bytes == done.bytes
        out = io.BytesIO()
        written = client.download_export_job(job["id"], out, link_transport=s3_links(s3))
    expected = streamed()
    assert written == len(expected) == done.bytes
    assert out.getvalue() == expected
    # one multipart object, no upload left open
    [stored] = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert stored["Key"] == f"exports/jobs/{job['id']}/{link.filename}" and stored["Size"] == len(expected)
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


def test_the_client_export_waits_for_the_job_and_writes_the_json_file(db: str, api: Api) -> None:
    from peerguard_client import AdminClient

    from app import app

    # Given local mode (the export directory; the link is the API's own file route, which wants the key)
    seed(db, 12_000)
    admin = admin_key()
    stop = threading.Event()

    def dispatcher() -> None:  # the local dispatcher's part: relay the outbox to the handlers
        while not stop.wait(0.2):
            drain_outbox()

    worker = threading.Thread(target=dispatcher)
    worker.start()
    try:
        with Client(app, stage_name="test") as chalice_client, AdminClient(
            "http://127.0.0.1:8000", api_key=admin, transport=ChaliceTransport(chalice_client)) as client:
            out = io.BytesIO()
            written = client.export("decisions", DAY, DAY, out, format="json", wait_s=60)
    finally:
        stop.set()
        worker.join()
    expected = streamed(fmt="json")
    assert written == len(expected) and out.getvalue() == expected
    assert len(json.loads(expected)) == 12_000


def test_a_run_that_dies_after_a_part_resumes_from_its_checkpoint_without_duplicate_rows(db: str, s3: Any) -> None:
    seed(db, ROWS)
    job = start(admin_key())
    # When the process dies right after its first part was committed
    with pytest.raises(job_service.SimulatedCrash):
        run(job["id"], crash_after_parts=1)
    row = job_row(job["id"])
    assert row["status"] == "running" and row["run_open"] and len(row["parts"]) == 1 and 0 < row["rows"] < ROWS
    # Then the redelivered message continues from the checkpoint (the dead run counts as an attempt)
    assert run(job["id"]) == "succeeded"
    row = job_row(job["id"])
    assert row["attempts"] == 1 and row["rows"] == ROWS and len(row["parts"]) >= 2
    body = s3.get_object(Bucket=BUCKET, Key=row["object_key"])["Body"].read()
    assert body == streamed()
    ids = [r["submission_id"] for r in csv.DictReader(io.StringIO(body.decode(), newline=""))]
    assert len(ids) == len(set(ids)) == ROWS


class LosesACommit:
    """The S3 store, except that the process dies after uploading part ``number`` and before its
    checkpoint is committed (the part is in S3, the row does not know it)."""

    def __init__(self, inner: ExportStore, number: int) -> None:
        self.inner, self.number, self.uploads = inner, number, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        etag = self.inner.upload_part(key, upload_id, number, data)
        self.uploads += 1
        if number == self.number:
            raise ConnectionError("connection lost after the upload")
        return etag


def test_a_part_uploaded_but_not_recorded_is_uploaded_again_from_the_same_row(db: str, s3: Any) -> None:
    seed(db, ROWS)
    job = start(admin_key())
    flaky = LosesACommit(bootstrap.export_store(), number=2)
    assert run(job["id"], store=flaky) == "retrying"  # type: ignore[arg-type]
    row = job_row(job["id"])
    assert len(row["parts"]) == 1 and row["attempts"] == 1 and "ConnectionError" in row["error"]
    assert row["status"] == "running" and not row["run_open"]
    with psycopg.connect(db) as conn:  # queued again, 30 s later
        [(delay,)] = conn.execute(
            "SELECT extract(epoch FROM available_at - created_at)::int FROM outbox"
            " WHERE topic = 'export_job' AND sent_at IS NULL AND available_at > created_at").fetchall()
    assert delay == job_rules.retry_delay_s(1) == 30
    assert run(job["id"]) == "succeeded"
    assert s3.get_object(Bucket=BUCKET, Key=row["object_key"])["Body"].read() == streamed()


class DiesAroundTheJoin:
    """The S3 store, except that the process dies once just before (or just after) joining the parts."""

    def __init__(self, inner: ExportStore, *, after: bool) -> None:
        self.inner, self.after, self.died = inner, after, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def complete_upload(self, key: str, upload_id: str, parts: Any) -> None:
        if self.after:
            self.inner.complete_upload(key, upload_id, parts)
        if not self.died:
            self.died = True
            raise job_service.SimulatedCrash("the process died around the join")
        self.inner.complete_upload(key, upload_id, parts)


@pytest.mark.parametrize("after", [False, True], ids=["before the join", "after the join"])
def test_a_run_that_dies_around_joining_the_parts_finishes_without_a_second_tail(db: str, s3: Any,
                                                                                after: bool) -> None:
    seed(db, 15_000)
    job = start(admin_key(), fmt="json")
    store = DiesAroundTheJoin(bootstrap.export_store(), after=after)
    with pytest.raises(job_service.SimulatedCrash):
        run(job["id"], store=store)  # type: ignore[arg-type]
    row = job_row(job["id"])
    assert row["all_parts"] and row["run_open"] and row["status"] == "running"
    # the redelivery only joins the parts (or, when S3 had joined them, finds the object whole)
    assert run(job["id"], store=store) == "succeeded"  # type: ignore[arg-type]
    body = s3.get_object(Bucket=BUCKET, Key=row["object_key"])["Body"].read()
    assert body == streamed(fmt="json") and len(json.loads(body)) == 15_000
    assert job_row(job["id"])["attempts"] == 1


def test_a_run_near_its_time_limit_checkpoints_and_queues_the_job_again(db: str, s3: Any) -> None:
    seed(db, ROWS)
    job = start(admin_key())
    # Given an invocation whose time is almost spent after the first part
    assert run(job["id"], time_left=lambda: job_rules.RESERVE_S - 1) == "requeued"
    row = job_row(job["id"])
    assert len(row["parts"]) == 1 and not row["run_open"] and row["attempts"] == 0
    with psycopg.connect(db) as conn:
        drain_ids = conn.execute("SELECT payload FROM outbox WHERE topic = 'export_job' AND sent_at IS NULL"
                                 " AND available_at > now()").fetchall()
    assert [r[0] for r in drain_ids] == [{"job_id": job["id"]}]
    # Then the next run finishes the job
    assert run(job["id"]) == "succeeded"
    assert s3.get_object(Bucket=BUCKET, Key=row["object_key"])["Body"].read() == streamed()


def sqs_event(*bodies: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{
        "messageId": f"m{i}", "receiptHandle": f"m{i}", "body": json.dumps(body), "attributes": {
            "ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "test",
            "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:local:0:{workers.EXPORT_JOB_QUEUE}", "awsRegion": "local",
    } for i, body in enumerate(bodies)]}


def test_duplicate_deliveries_change_nothing_and_failures_are_reported_per_record(db: str, s3: Any) -> None:
    seed(db, 15_000)
    job = start(admin_key())
    handler: Callable[..., Any] = workers.export_job_worker
    # A delivery while another run holds the job is retried later (reported), the other is not disturbed
    with AdvisoryJobLocks().hold(f"export_job:{job['id']}") as held:
        assert held
        busy = handler(sqs_event({"job_id": job["id"]}, {"job_id": "not-a-uuid"}), None)
    assert sorted(f["itemIdentifier"] for f in busy["batchItemFailures"]) == ["m0", "m1"]
    assert job_row(job["id"])["status"] == "queued"
    # The job runs once; the same message delivered twice more finds it finished
    assert handler(sqs_event({"job_id": job["id"]}), None) == {"batchItemFailures": []}
    row = job_row(job["id"])
    first = s3.get_object(Bucket=BUCKET, Key=row["object_key"])
    assert handler(sqs_event({"job_id": job["id"]}, {"job_id": job["id"]}), None) == {"batchItemFailures": []}
    assert run(job["id"]) == "skipped"
    again = s3.get_object(Bucket=BUCKET, Key=row["object_key"])
    assert again["ETag"] == first["ETag"] and job_row(job["id"])["finished_at"] == row["finished_at"]


class BrokenStore:
    def __init__(self, inner: ExportStore) -> None:
        self.inner, self.aborted = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        raise PermissionError("AccessDenied: s3:PutObject")

    def abort_upload(self, key: str, upload_id: str) -> None:
        self.aborted += 1
        self.inner.abort_upload(key, upload_id)


def test_a_job_fails_after_three_attempts_with_its_error_and_its_upload_aborted(db: str, s3: Any) -> None:
    seed(db, 15_000)
    job = start(admin_key())
    broken = BrokenStore(bootstrap.export_store())
    for _ in range(job_rules.MAX_ATTEMPTS - 1):
        assert run(job["id"], store=broken) == "retrying"  # type: ignore[arg-type]
    assert run(job["id"], store=broken) == "failed"  # type: ignore[arg-type]
    row = job_row(job["id"])
    assert row["status"] == "failed" and row["attempts"] == 3 and row["finished_at"] is not None
    assert row["error"] == "PermissionError: AccessDenied: s3:PutObject" and broken.aborted == 1
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert run(job["id"]) == "skipped"


def test_a_job_is_read_and_downloaded_by_the_admin_who_asked_only(db: str, api: Api, s3: Any) -> None:
    seed(db, 200)
    owner, other = admin_key(), admin_key()
    agent_key, _ = api.register("curious")
    job = start(owner)
    path = f"/v1/admin/exports/jobs/{job['id']}"
    # before it has run: readable by its admin, not downloadable yet
    assert api.get(path, key=owner).data["status"] == "queued"
    pending = api.get(f"{path}/download", key=owner)
    assert pending.status == 409 and pending.body["error"]["details"] == {"status": "queued"}
    drain_outbox()
    assert api.get(path, key=owner).data["status"] == "succeeded"
    ok = api.get(f"{path}/download", key=owner)
    assert ok.status == 200 and ok.data["rows"] == 200 and "X-Amz-Signature" in ok.data["url"]
    # another admin learns nothing: 404, as for a job that does not exist
    for key in (other,):
        for suffix in ("", "/download", "/file"):
            answer = api.get(f"{path}{suffix}", key=key)
            assert answer.status == 404, (suffix, answer.body)
    assert api.get(f"/v1/admin/exports/jobs/{uuid.uuid4()}", key=owner).status == 404
    assert api.get(path, key=agent_key).status == 403
    assert api.get("/v1/admin/exports/jobs/not-a-uuid", key=owner).status == 400
    # in AWS the file route serves nothing: the presigned link is the way to the file
    assert api.get(f"{path}/file", key=owner).status == 404


def test_the_file_route_serves_a_finished_job_to_its_admin_in_local_mode(db: str, api: Api) -> None:
    seed(db, 300)
    owner, other = admin_key(), admin_key()
    job = start(owner, fmt="json")
    drain_outbox()
    link = api.get(f"/v1/admin/exports/jobs/{job['id']}/download", key=owner)
    assert link.data["url"].endswith(f"/v1/admin/exports/jobs/{job['id']}/file")
    assert link.headers["cache-control"] == "private, no-store"
    assert api.get(f"/v1/admin/exports/jobs/{job['id']}/file", key=other).status == 404
    from app import app

    with Client(app, stage_name="test") as client:
        answer = client.http.get(f"/v1/admin/exports/jobs/{job['id']}/file",
                                 headers={"Authorization": f"Bearer {owner}"})
    assert answer.status_code == 200
    assert answer.body == streamed(fmt="json")


def test_an_admin_runs_at_most_two_jobs_at_once_and_bad_requests_are_4xx(db: str, api: Api) -> None:
    seed(db, 50)
    first, second = admin_key(), admin_key()
    body = {"kind": "ledger", "from": str(DAY), "to": str(DAY), "format": "csv"}
    assert api.post("/v1/admin/exports/jobs", key=first, body=body).status == 202
    assert api.post("/v1/admin/exports/jobs", key=first, body={**body, "kind": "decisions"}).status == 202
    third = api.post("/v1/admin/exports/jobs", key=first, body=body)
    assert third.status == 429 and third.body["error"]["code"] == "RATE_LIMITED"
    assert third.body["error"]["details"]["limit"] == "export_jobs_per_admin"
    # another admin is not held back by the first one's jobs
    assert api.post("/v1/admin/exports/jobs", key=second, body=body).status == 202
    # once the first admin's jobs have finished, they start another
    drain_outbox()
    assert api.post("/v1/admin/exports/jobs", key=first, body=body).status == 202
    for bad in ({**body, "kind": "passwords"}, {**body, "format": "xml"}, {**body, "to": "yesterday"},
                {**body, "from": str(DAY + timedelta(days=1)), "to": str(DAY)}, {**body, "extra": 1},
                {"kind": "ledger"}):
        answer = api.post("/v1/admin/exports/jobs", key=second, body=bad)
        assert answer.status == 400, (bad, answer.body)


def test_concurrent_starts_by_one_admin_never_pass_the_cap(db: str) -> None:
    admin = admin_key()
    answers: list[int] = []

    def ask() -> None:
        with api_client() as api:
            answers.append(api.post("/v1/admin/exports/jobs", key=admin, body={
                "kind": "trends", "from": str(DAY), "to": str(DAY)}).status)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [202, 202, 429, 429, 429, 429]


def test_a_small_export_is_still_answered_at_once(db: str, api: Api) -> None:
    seed(db, 100)
    from app import app

    admin = admin_key()
    with Client(app, stage_name="test") as client:
        answer = client.http.get(f"/v1/admin/exports/decisions?from={DAY}&to={DAY}&format=csv",
                                 headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 200 and answer.body == streamed()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM export_jobs").fetchone() == (0,)


def test_the_admin_client_starts_follows_and_is_told_of_the_cap_and_of_other_admins_jobs(db: str) -> None:
    from peerguard_client import AdminClient, ExportJobFailed, errors

    from app import app

    seed(db, 100)
    owner, other = admin_key(), admin_key()
    with Client(app, stage_name="test") as chalice_client, AdminClient(
        "http://127.0.0.1:8000", api_key=owner, transport=ChaliceTransport(chalice_client),
        sleep=lambda s: None) as client, AdminClient(
        "http://127.0.0.1:8000", api_key=other, transport=ChaliceTransport(chalice_client)) as stranger:
        first = client.start_export_job("decisions", DAY, DAY, format="json")
        assert first.status == "queued" and first.from_ == DAY and first.format == "json"
        client.start_export_job("ledger", DAY, DAY)
        with pytest.raises(errors.RateLimited):
            client.start_export_job("trends", DAY, DAY)
        with pytest.raises(errors.Conflict):
            client.export_job_link(first.id)
        with pytest.raises(TimeoutError):
            client.wait_export_job(first.id, timeout_s=0)
        with pytest.raises(errors.NotFound):
            stranger.export_job(first.id)
        drain_outbox()
        assert client.wait_export_job(first.id).rows == 100
        out = io.BytesIO()
        assert client.download_export_job(first.id, out) == len(out.getvalue())
        assert out.getvalue() == streamed(fmt="json")
        with pytest.raises(errors.NotFound):
            stranger.download_export_job(first.id, io.BytesIO())
        # a job that failed for good is reported as such
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("UPDATE export_jobs SET status = 'failed', error = 'boom', finished_at = now()"
                         " WHERE id = %s", (first.id,))
        with pytest.raises(ExportJobFailed, match="boom"):
            client.wait_export_job(first.id)


def test_a_job_whose_message_was_lost_is_queued_again_when_its_admin_looks_at_it(db: str, api: Api) -> None:
    from tests.fakes.clock import PinnedClock

    seed(db, 40)
    admin = admin_key()
    job = start(admin)
    with psycopg.connect(db, autocommit=True) as conn:  # the job's message is lost (parked dead)
        conn.execute("UPDATE outbox SET dead_at = now() WHERE topic = 'export_job'")
    assert drain_outbox() == 0
    path = f"/v1/admin/exports/jobs/{job['id']}"
    assert api.get(path, key=admin).data["status"] == "queued" and drain_outbox() == 0  # not stalled yet
    # When its admin looks at it after half an hour without a change
    bootstrap.install_clock(PinnedClock(datetime.now(UTC) + job_rules.STALLED_AFTER + timedelta(minutes=1)))
    try:
        assert api.get(path, key=admin).data["status"] == "queued"
        # Then it is queued again, and runs
        assert drain_outbox() == 1
    finally:
        bootstrap.install_clock(None)
    assert api.get(path, key=admin).data["status"] == "succeeded"
