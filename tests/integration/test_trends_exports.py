"""Trends and exports for operators: a day's figures from real rows, the daily job's backfill and
idempotence (a re-run replaces the day), the trends route's bounds, and exports in CSV and JSON with
a fixed column order, ISO timestamps and masked text, inline or behind a link to S3."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import psycopg
import pytest
from chalice.test import Client
from moto import mock_aws
from psycopg.types.json import Jsonb

from chalicelib import bootstrap
from chalicelib.domain import exports as export_rules
from chalicelib.services import exports as export_service
from chalicelib.services import trends as trend_service
from tests.support import Api, admin_key, api_client

TODAY = datetime.now(UTC).date()
DAY = TODAY - timedelta(days=3)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


class World:
    """Rows written straight into PostgreSQL: agents, submissions with their trail, spot checks, an
    economy snapshot and validators."""

    def __init__(self, url: str) -> None:
        self.url = url

    def agent(self, name: str = "agent", *, created: datetime | None = None) -> uuid.UUID:
        agent_id = uuid.uuid4()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("INSERT INTO agents (id, kind, name, owner_id, created_at) VALUES (%s, 'agent', %s, %s, %s)",
                         (agent_id, name, uuid.uuid4(), created or at(DAY - timedelta(days=40), 9)))
        return agent_id

    def submission(self, agent_id: uuid.UUID, *, created: datetime, kind: str = "problem",
                   status: str = "approved", decided_by: str | None = "peer", route: str | None = "peer",
                   title: str = "Broken pump", body: str = "The pump on Main Street is broken.",
                   categories: tuple[str, ...] = (), trail: dict[str, Any] | None = None) -> uuid.UUID:
        sid = uuid.uuid4()
        decided = None if status == "pending" else created + timedelta(minutes=5)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by,"
                " route_path, created_at, decided_at, cost_millicredits) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, 2000)",
                (sid, agent_id, kind, title, body, uuid.uuid4().hex, status, decided_by, route, created, decided))
            conn.execute("INSERT INTO decision_trail (submission_id, stage, verdict, created_at) VALUES"
                         " (%s, 'layer_a', %s, %s)",
                         (sid, Jsonb({"blocked": decided_by == "layer_a", "categories": list(categories)}), created))
            if trail:
                for stage, verdict in trail.items():
                    conn.execute("INSERT INTO decision_trail (submission_id, stage, verdict, created_at) VALUES"
                                 " (%s, %s, %s, %s)", (sid, stage, Jsonb(verdict), created + timedelta(minutes=1)))
        return sid

    def spot_check(self, submission_id: uuid.UUID, *, completed: datetime, agrees: bool) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO consensus_decisions (submission_id, mode, status, layer_b_decision, layer_b_valid,"
                " assigned, opened_at, expires_at, outcome, decided_at) VALUES (%s, 'live', 'decided', 'approved',"
                " true, 3, %s, %s, 'approved', %s)", (submission_id, completed, completed, completed))
            conn.execute(
                "INSERT INTO spot_checks (submission_id, peer_outcome, status, layer_b_decision, agrees,"
                " disagreement, completed_at) VALUES (%s, 'approved', 'completed', %s, %s, %s, %s)",
                (submission_id, "approved" if agrees else "rejected", agrees,
                 None if agrees else "false_negative", completed))

    def snapshot(self, end: datetime, *, faucet: int, sink: int, hardship: int, total: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO economy_snapshots (window_start, window_end, faucet, starter_grants, sink, ratio,"
                " ratio_state, active_agents, agents_total, hardship_agents, hardship_rate, median_balance,"
                " circulating, total_validators) VALUES (%s, %s, %s, 0, %s, %s, 'defined', 1, %s, %s, %s, 0, 0, 0)",
                (end - timedelta(hours=1), end, faucet, sink, faucet / sink, total, hardship, hardship / total))

    def validator(self, agent_id: uuid.UUID, *, tier: str, joined: datetime,
                  changes: tuple[tuple[datetime, str, str], ...] = ()) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("INSERT INTO validators (agent_id, tier, joined_at) VALUES (%s, %s, %s)",
                         (agent_id, tier, joined))
            for when, old, new in changes:
                conn.execute("INSERT INTO validator_tier_changes (agent_id, old_tier, new_tier, f1_score,"
                             " scored_evaluations, reason, created_at) VALUES (%s, %s, %s, 0.9, 60, 'test', %s)",
                             (agent_id, old, new, when))


@pytest.fixture
def world(db: str) -> World:
    return World(db)


@pytest.fixture
def api(db: str) -> Iterator[Api]:
    with api_client() as client:
        yield client


@pytest.fixture
def admin(api: Api) -> str:
    return admin_key()


def figures(day: date, metric: str | None = None) -> dict[tuple[str, str], float]:
    report = trend_service.read_trends(bootstrap.unit_of_work(), start=day, end=day, metric=metric)
    return {(s.metric, s.series): v for s in report.series for d, v in s.points if d == day}


def test_a_day_counts_submissions_decisions_blocks_compliance_spot_checks_economy_and_the_pool(world: World) -> None:
    # Given one day with peer and Layer B decisions, two Layer A blocks, a pending submission,
    # spot checks (one disagreement), economy snapshots and validators of two tiers
    good, bad = world.agent("good"), world.agent("bad")
    first = world.submission(good, created=at(DAY, 9))
    world.submission(good, created=at(DAY, 10), kind="solution", route="layer_b", decided_by="layer_b")
    world.submission(good, created=at(DAY, 11), status="pending", decided_by=None, route=None)
    for hour in (12, 13):
        world.submission(bad, created=at(DAY, hour), status="rejected", decided_by="layer_a", route=None,
                         categories=("violence", "weapons") if hour == 12 else ("violence",))
    world.spot_check(first, completed=at(DAY, 15), agrees=True)
    second = world.submission(good, created=at(DAY, 8))
    world.spot_check(second, completed=at(DAY, 16), agrees=False)
    world.snapshot(at(DAY, 12), faucet=3000, sink=2000, hardship=1, total=10)
    world.snapshot(at(DAY, 23), faucet=1000, sink=2000, hardship=2, total=10)
    world.validator(good, tier="expert", joined=at(DAY - timedelta(days=30), 9),
                    changes=((at(DAY + timedelta(days=1), 3), "journeyman", "expert"),))
    world.validator(bad, tier="apprentice", joined=at(DAY - timedelta(days=30), 9))
    # And nothing on the next day counts
    world.submission(good, created=at(DAY + timedelta(days=1), 1))

    # When the day is aggregated
    written = trend_service.aggregate_day(bootstrap.unit_of_work(), DAY)

    # Then each metric has the day's figures
    got = figures(DAY)
    assert written == len(got)
    assert got[("submissions", "problem/peer")] == 2
    assert got[("submissions", "solution/layer_b")] == 1
    assert got[("submissions", "problem/none")] == 1
    assert got[("submissions", "problem/layer_a")] == 2
    assert got[("decisions", "peer/approved")] == 2
    assert got[("decisions", "layer_a/rejected")] == 2
    assert got[("layer_a_blocks", "violence")] == 2
    assert got[("layer_a_blocks", "weapons")] == 1
    assert got[("layer_a_blocks", "total")] == 2
    # two agents: 100 and 100 - 2 x 10 = 80
    assert got[("compliance", "agents")] == 2
    assert got[("compliance", "p10")] == pytest.approx(82.0)
    assert got[("compliance", "p50")] == pytest.approx(90.0)
    assert got[("compliance", "share_below_60")] == 0
    assert got[("spot_checks", "completed")] == 2
    assert got[("spot_checks", "agreement")] == pytest.approx(0.5)
    assert got[("economy", "ratio")] == pytest.approx(1.0)
    assert got[("economy", "hardship_rate")] == pytest.approx(0.2)  # the day's last snapshot
    # the expert was promoted after the day: it was a journeyman at the day's end
    assert got[("validator_pool", "journeyman")] == 1
    assert got[("validator_pool", "apprentice")] == 1
    assert got[("validator_pool", "expert")] == 0
    assert got[("validator_pool", "total")] == 2


def test_a_re_run_replaces_the_day_and_today_cannot_be_aggregated(world: World) -> None:
    agent = world.agent()
    world.submission(agent, created=at(DAY, 9))
    trend_service.aggregate_day(bootstrap.unit_of_work(), DAY)
    assert figures(DAY, "submissions") == {("submissions", "problem/peer"): 1}

    # Given a late row for that day, when the day is aggregated again
    world.submission(agent, created=at(DAY, 22), kind="debate")
    trend_service.aggregate_day(bootstrap.unit_of_work(), DAY)
    trend_service.aggregate_day(bootstrap.unit_of_work(), DAY)

    # Then the day holds the new figures only, once
    assert figures(DAY, "submissions") == {("submissions", "problem/peer"): 1, ("submissions", "debate/peer"): 1}
    from chalicelib.domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        trend_service.aggregate_day(bootstrap.unit_of_work(), TODAY)


def test_the_daily_job_backfills_missed_days_once_and_then_only_new_ones(world: World) -> None:
    # Given data from five days ago and no aggregation yet
    agent = world.agent()
    world.submission(agent, created=at(TODAY - timedelta(days=5), 9))
    # When the job runs
    first = trend_service.aggregate_due_days(bootstrap.unit_of_work())
    # Then every whole day from the first data day to yesterday is done
    assert first["days"] == 5
    assert first["first"] == (TODAY - timedelta(days=5)).isoformat()
    assert first["last"] == (TODAY - timedelta(days=1)).isoformat()
    # And a second run the same day has nothing to do
    assert trend_service.aggregate_due_days(bootstrap.unit_of_work())["days"] == 0
    # And a run two days later does the two missed days
    later = datetime.now(UTC) + timedelta(days=2)
    assert trend_service.aggregate_due_days(bootstrap.unit_of_work(), later)["days"] == 2


def test_the_scheduled_job_is_registered_daily() -> None:
    from chalicelib.entrypoints.schedules import JOBS

    job = next(j for j in JOBS if j.name == "trends_daily")
    assert job.expression.startswith("cron(") and job.every_seconds == 86_400


def test_the_trends_route_is_for_admins_validates_and_bounds_the_range(api: Api, admin: str, world: World) -> None:
    agent = world.agent()
    world.submission(agent, created=at(DAY, 9))
    trend_service.aggregate_day(bootstrap.unit_of_work(), DAY)
    agent_key, _ = api.register("someone")

    ok = api.get(f"/v1/admin/trends?from={DAY}&to={TODAY}&metric=submissions", key=admin)
    assert ok.status == 200, ok.body
    assert ok.data["from"] == DAY.isoformat() and ok.data["days_done"] == [DAY.isoformat()]
    assert ok.data["series"] == [{"metric": "submissions", "series": "problem/peer",
                                  "points": [{"day": DAY.isoformat(), "value": 1.0}]}]

    assert api.get(f"/v1/admin/trends?from={DAY}&to={TODAY}", key=agent_key).status == 403
    assert api.get(f"/v1/admin/trends?from={DAY}&to={TODAY}").status == 401
    for query in (f"from={TODAY}&to={DAY}",  # reversed
                  f"from={TODAY - timedelta(days=400)}&to={TODAY}",  # over a year
                  f"from={TODAY + timedelta(days=2)}&to={TODAY + timedelta(days=3)}",  # future
                  f"from={DAY}&to={TODAY}&metric=nope", "from=yesterday&to=today", f"to={TODAY}",
                  f"from={DAY}&to={TODAY}&extra=1"):
        answer = api.get(f"/v1/admin/trends?{query}", key=admin)
        assert answer.status == 400, (query, answer.body)
        assert answer.error["code"] == "VALIDATION_ERROR"


def raw_get(path: str, key: str) -> Any:
    from app import app

    with Client(app, stage_name="test") as client:
        answer = client.http.get(path, headers={"Authorization": f"Bearer {key}"})
    answer.headers = {k.lower(): v for k, v in answer.headers.items()}
    return answer


def test_a_decisions_export_in_csv_is_rfc_4180_with_fixed_columns_iso_times_and_masked_text(
    api: Api, admin: str, world: World,
) -> None:
    # Given an agent's text, masked by Layer A on the way in (an e-mail address), with commas,
    # quotes, a line break and a leading formula sign
    key, _ = api.register("writer")
    submitted = api.post("/v1/submissions", key=key, body={
        "kind": "problem", "title": "=HYPERLINK(\"x\"), pump", "body": "Write to jane.doe@example.org,\nsay \"hi\""})
    assert submitted.status in (201, 202), submitted.body
    agent = world.agent()
    world.submission(agent, created=at(DAY, 9))

    answer = raw_get(f"/v1/admin/exports/decisions?from={DAY}&to={TODAY}&format=csv", admin)
    # pending submissions are not decisions: only the decided one (and any decided by now) appear
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    text = answer.body.decode() if isinstance(answer.body, bytes) else answer.body
    assert text.startswith(",".join(export_rules.COLUMNS["decisions"]) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows and all(r["decided_at"].endswith("Z") for r in rows)
    datetime.strptime(rows[0]["decided_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert "jane.doe@example.org" not in text
    mine = [r for r in rows if "pump" in r["title"] and r["title"] != "Broken pump"]
    if mine:  # decided by now (Layer B offline runs in the test's outbox drain only)
        assert mine[0]["title"].startswith("'=")


def test_every_export_answers_json_whose_keys_follow_the_csv_columns(api: Api, admin: str, world: World) -> None:
    agent = world.agent()
    world.submission(agent, created=at(DAY, 9), status="rejected", decided_by="layer_a", route=None,
                     categories=("violence",))
    trend_service.aggregate_day(bootstrap.unit_of_work(), DAY)
    for kind in export_rules.KINDS:
        answer = raw_get(f"/v1/admin/exports/{kind}?from={DAY}&to={TODAY}&format=json", admin)
        assert answer.status_code == 200, (kind, answer.body)
        body = json.loads(answer.body)
        assert isinstance(body, list)
        for item in body:
            assert list(item) == list(export_rules.COLUMNS[kind])
    compliance = json.loads(raw_get(f"/v1/admin/exports/compliance?from={DAY}&to={DAY}&format=json", admin).body)
    assert compliance == [{"occurred_at": export_rules.iso(at(DAY, 9)), "agent_id": str(agent),
                           "submission_id": compliance[0]["submission_id"], "event": "layer_a_block",
                           "categories": "violence"}]


def test_exports_are_for_admins_and_validated(api: Api, admin: str) -> None:
    agent_key, _ = api.register("someone")
    assert api.get(f"/v1/admin/exports/decisions?from={DAY}&to={TODAY}", key=agent_key).status == 403
    for path in (f"/v1/admin/exports/passwords?from={DAY}&to={TODAY}",
                 f"/v1/admin/exports/ledger?from={DAY}&to={TODAY}&format=xml",
                 f"/v1/admin/exports/ledger?from={TODAY - timedelta(days=367)}&to={TODAY}",
                 f"/v1/admin/exports/ledger?from={TODAY}&to={DAY}"):
        answer = api.get(path, key=admin)
        assert answer.status == 400, (path, answer.body)


def test_a_large_export_goes_to_s3_behind_a_presigned_link(api: Api, admin: str, world: World,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    agent = world.agent()
    for minute in range(40):
        world.submission(agent, created=at(DAY, 9, minute), body="x" * 200)
    monkeypatch.setenv("EXPORT_INLINE_MAX_BYTES", "1024")
    monkeypatch.setenv("EXPORT_STORE", "s3")
    monkeypatch.setenv("EXPORT_BUCKET", "exports-test")
    reset_settings()
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="exports-test")
        answer = api.get(f"/v1/admin/exports/decisions?from={DAY}&to={DAY}&format=csv", key=admin)
        assert answer.status == 200, answer.body
        link = answer.data
        assert link["rows"] == 40 and link["bytes"] > 1024 and "X-Amz-Signature" in link["url"]
        assert link["filename"] == f"peerguard-decisions-{DAY}-{DAY}.csv"
        objects = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="exports-test")["Contents"]
        assert len(objects) == 1 and objects[0]["Size"] == link["bytes"]
        stored = boto3.client("s3", region_name="us-east-1").get_object(
            Bucket="exports-test", Key=objects[0]["Key"])["Body"].read().decode()
        assert len(list(csv.DictReader(io.StringIO(stored, newline="")))) == 40


def test_the_stream_holds_one_chunk_at_a_time_and_closing_it_ends_the_transaction(world: World) -> None:
    agent = world.agent()
    for minute in range(50):
        world.submission(agent, created=at(DAY, 10, minute), body="y" * 3000)
    request = export_service.ExportRequest(kind="decisions", fmt="csv", start=DAY, end=DAY)
    tally = export_rules.Tally()
    chunks = export_service.stream(bootstrap.unit_of_work(), request, tally)
    first = next(chunks)
    assert len(first) < 2 * export_rules.CHUNK_BYTES and tally.rows < 50
    chunks.close()  # a client that hangs up
    # the connection went back to the pool: a new unit of work runs
    with bootstrap.unit_of_work() as uow:
        assert uow.trends.last_done_day() is None


def test_the_admin_client_reads_trends_and_writes_an_export_to_a_file(api: Api, admin: str, world: World) -> None:
    from peerguard_client import AdminClient

    from app import app
    from tests.client_transport import ChaliceTransport

    agent = world.agent()
    world.submission(agent, created=at(DAY, 9))
    with Client(app, stage_name="test") as chalice_client, AdminClient(
        "http://app.test", api_key=admin, transport=ChaliceTransport(chalice_client)) as client:
        assert client.aggregate_trends(DAY).figures > 0
        report = client.trends(DAY, DAY, metric="submissions")
        assert report.from_ == DAY and [s.series for s in report.series] == ["problem/peer"]
        out = io.BytesIO()
        written = client.export("decisions", DAY, DAY, out, format="csv")
    lines = out.getvalue().decode().split("\r\n")
    assert written == len(out.getvalue()) and lines[0].startswith("submission_id,") and len(lines) == 3
