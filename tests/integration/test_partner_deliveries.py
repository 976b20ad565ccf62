"""Partner deliveries against a local webhook server that fails, times out, answers 500 then 200:
each run delivers what was approved since the last success, nothing twice and nothing skipped;
three attempts then failed + alert; preview, run-now, history, stats; SSRF checks outside local."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.delivery_targets import DeliveryTargets
from chalicelib.services import partner_deliveries as service
from tests.support import Api, admin_key, api_client, drain_outbox

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)


def receiver_verify() -> Any:
    """The documented receiver snippet (docs/deliveries.md), run as written."""
    text = (ROOT / "docs" / "deliveries.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert len([line for line in snippet.splitlines() if line.strip()]) <= 10
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


class Partner:
    """A webhook receiver that answers from a script: 200, 500, "timeout" or "drop"."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                partner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                action = partner.script.pop(0) if partner.script else "200"
                if action == "timeout":
                    time.sleep(1.5)
                    action = "200"
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(int(action))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def items(self, index: int) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.received[index][1].decode().splitlines()]


@pytest.fixture
def partner() -> Iterator[Partner]:
    receiver = Partner()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def api(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("DELIVERY_RETRY_BASE_S", "0")  # retries due at once: the drain runs all attempts
    monkeypatch.setenv("DELIVERY_TIMEOUT_S", "0.5")
    reset_settings()
    with api_client() as client:
        yield client


@pytest.fixture
def admin(api: Api) -> str:
    return admin_key()


@pytest.fixture
def author(api: Api) -> str:
    _, agent = api.register("author")
    return str(agent["id"])


def approve(db: str, author: str, *, minutes_ago: float, title: str = "Broken pump", domain: str | None = None,
            kind: str = "problem", where: tuple[float, float] | None = None, body: str = "The pump is broken.") -> str:
    """An approved submission decided `minutes_ago` minutes ago."""
    sid = str(uuid.uuid4())
    decided = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO submissions (id, agent_id, kind, title, body, domain, latitude, longitude, content_hash,"
            " status, decided_by, route_path, created_at, decided_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'approved', 'layer_b', 'layer_b', %s, %s)",
            (sid, author, kind, title, body, domain, where[0] if where else None, where[1] if where else None,
             sid, decided - timedelta(minutes=1), decided),
        )
    return sid


def create(api: Api, admin: str, target: str, **extra: Any) -> dict[str, Any]:
    body = {"partner": "City of Lyon", "target": target, "cron": "*/5 * * * *", **extra}
    answer = api.post("/v1/admin/deliveries/schedules", key=admin, body=body)
    assert answer.status == 201, answer.body
    return dict(answer.data)


def backdate(db: str, schedule_id: str, *, hours: float = 2) -> None:
    """Given a schedule created `hours` ago (its watermark then), due now."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE delivery_schedules SET watermark_at = now() - make_interval(secs => %s),"
                     " next_run_at = now() - interval '1 second' WHERE id = %s", (hours * 3600, schedule_id))


def runs(api: Api, admin: str, schedule_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/v1/admin/deliveries/schedules/{schedule_id}/runs", key=admin).data)


def test_a_schedule_is_created_with_its_next_three_runs_and_a_secret_shown_once(api: Api, admin: str,
                                                                                   partner: Partner) -> None:
    created = create(api, admin, partner.url, cron="0  6 * * *")
    schedule = created["schedule"]
    assert schedule["cron"] == "0 6 * * *" and len(created["secret"]) >= 32
    runs_at = [datetime.fromisoformat(t) for t in schedule["next_runs"]]
    assert len(runs_at) == 3 and all(t.hour == 6 and t.minute == 0 for t in runs_at)
    assert runs_at == sorted(runs_at) and runs_at[0] > datetime.now(UTC)
    fetched = api.get(f"/v1/admin/deliveries/schedules/{schedule['id']}", key=admin).data
    assert "secret" not in fetched and fetched["next_runs"] == schedule["next_runs"]
    listed = api.get("/v1/admin/deliveries/schedules", key=admin).data
    assert [s["id"] for s in listed] == [schedule["id"]]


@pytest.mark.parametrize("cron", ["", "* * * *", "61 * * * *", "* * * * * * *", "every day", "0 25 * * *"])
def test_a_bad_cron_is_a_400_and_nothing_is_stored(api: Api, admin: str, partner: Partner, cron: str) -> None:
    answer = api.post("/v1/admin/deliveries/schedules", key=admin,
                      body={"partner": "p", "target": partner.url, "cron": cron})
    assert answer.status == 400, answer.body
    assert api.get("/v1/admin/deliveries/schedules", key=admin).data == []


def test_500_then_200_delivers_once_signed_and_the_next_run_sends_only_what_is_new(
    api: Api, admin: str, db: str, author: str, partner: Partner,
) -> None:
    created = create(api, admin, partner.url)
    sid, secret = created["schedule"]["id"], created["secret"]
    backdate(db, sid)
    first = [approve(db, author, minutes_ago=m, title=f"item {m}") for m in (90, 30, 5)]
    waiting = approve(db, author, minutes_ago=0)  # inside the settle delay: waits for the next run
    partner.script = ["500", "200"]

    assert service.claim_due(bootstrap.unit_of_work())["queued"] == 1
    drain_outbox()

    [run] = runs(api, admin, sid)
    assert run["status"] == "succeeded" and run["attempts"] == 2 and run["response_code"] == 200
    assert run["items"] == 3 and run["bytes"] == len(partner.received[1][1])
    assert len(partner.received) == 2
    (h1, b1), (h2, b2) = partner.received
    assert h1["x-peerguard-delivery"] == h2["x-peerguard-delivery"] == run["id"]
    assert b1 == b2
    verify = receiver_verify()
    assert verify(secret, b2, h2["x-peerguard-signature"])
    assert not verify(secret, b2 + b" ", h2["x-peerguard-signature"])  # tampered body
    assert not verify("another-secret-of-some-length", b2, h2["x-peerguard-signature"])
    stale = h2["x-peerguard-signature"].replace("t=", "t=1", 1)
    assert not verify(secret, b2, stale)  # a replayed or forged timestamp
    assert [i["id"] for i in partner.items(1)] == first  # oldest first

    # Later: the next run carries what was approved since, never the first window again.
    later = approve(db, author, minutes_ago=0, title="later")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE delivery_schedules SET next_run_at = now() WHERE id = %s", (sid,))
    service.claim_due(bootstrap.unit_of_work(), now=datetime.now(UTC) + timedelta(minutes=2))
    drain_outbox()
    assert len(partner.received) == 3
    assert [i["id"] for i in partner.items(2)] == [waiting, later]


def test_three_failures_fail_the_run_raise_an_alert_and_the_next_run_sends_the_missed_window(
    api: Api, admin: str, db: str, author: str, partner: Partner,
) -> None:
    created = create(api, admin, partner.url)
    sid = created["schedule"]["id"]
    backdate(db, sid)
    missed = approve(db, author, minutes_ago=20)
    partner.script = ["500", "timeout", "drop"]

    service.claim_due(bootstrap.unit_of_work())
    drain_outbox()

    [run] = runs(api, admin, sid)
    assert run["status"] == "failed" and run["attempts"] == 3
    assert "timed out" in run["error"].lower() or "connection" in run["error"].lower() \
        or "disconnected" in run["error"].lower()
    alerts = api.get("/v1/admin/alerts", key=admin).data
    [alert] = [a for a in alerts if a["rule"] == "delivery_failed"]
    assert alert["details"]["schedule_id"] == sid and alert["runbook"] == "docs/runbooks/delivery_failed.md"

    # The partner is back: run-now delivers the failed window (nothing skipped).
    newer = approve(db, author, minutes_ago=3)
    queued = api.post(f"/v1/admin/deliveries/schedules/{sid}/run-now", key=admin)
    assert queued.status == 202 and queued.data["window_from"] == run["window_from"]
    drain_outbox()
    assert [i["id"] for i in partner.items(-1)] == [missed, newer]
    stats = api.get("/v1/admin/deliveries/stats", key=admin).data
    [row] = stats["schedules"]
    assert (row["finished"], row["succeeded"], row["failed"], row["success_rate"]) == (2, 1, 1, 0.5)
    assert row["last_success_at"] is not None and stats["success_rate"] == 0.5


def test_each_failure_kind_is_recorded_with_its_error_and_code(api: Api, admin: str, db: str, author: str,
                                                               partner: Partner) -> None:
    sid = create(api, admin, partner.url)["schedule"]["id"]
    backdate(db, sid)
    approve(db, author, minutes_ago=10)
    partner.script = ["timeout", "503", "200"]
    service.claim_due(bootstrap.unit_of_work())
    run_id = runs(api, admin, sid)[0]["id"]
    assert service.run_delivery(bootstrap.unit_of_work(), DeliveryTargets(), uuid.UUID(run_id)) == "retrying"
    first = runs(api, admin, sid)[0]
    assert first["status"] == "retrying" and "timed out" in first["error"] and first["response_code"] is None
    assert service.run_delivery(bootstrap.unit_of_work(), DeliveryTargets(), uuid.UUID(run_id)) == "retrying"
    second = runs(api, admin, sid)[0]
    assert second["response_code"] == 503 and "503" in second["error"]
    assert service.run_delivery(bootstrap.unit_of_work(), DeliveryTargets(), uuid.UUID(run_id)) == "succeeded"
    # A duplicate message for a finished run changes nothing and sends nothing.
    sent = len(partner.received)
    assert service.run_delivery(bootstrap.unit_of_work(), DeliveryTargets(), uuid.UUID(run_id)) == "skipped"
    assert len(partner.received) == sent
    drain_outbox()  # the queued retry messages find the run done
    assert len(partner.received) == sent and runs(api, admin, sid)[0]["attempts"] == 3


def test_overlapping_claims_queue_one_run_and_run_now_is_409_while_it_is_in_flight(
    api: Api, admin: str, db: str, partner: Partner,
) -> None:
    ids = [create(api, admin, partner.url, partner=f"p{i}")["schedule"]["id"] for i in range(12)]
    for sid in ids:
        backdate(db, sid)
    results: list[dict[str, int]] = []
    threads = [threading.Thread(target=lambda: results.append(service.claim_due(bootstrap.unit_of_work())))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["queued"] for r in results) == 12
    for sid in ids:
        assert len(runs(api, admin, sid)) == 1
    busy = api.post(f"/v1/admin/deliveries/schedules/{ids[0]}/run-now", key=admin)
    assert busy.status == 409 and busy.error["details"]["run_id"]
    # Due again while the run is still queued: no second run of the same window.
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE delivery_schedules SET next_run_at = now() - interval '1 second'")
    assert service.claim_due(bootstrap.unit_of_work())["skipped"] == 12


def test_filters_formats_and_preview(api: Api, admin: str, db: str, author: str, partner: Partner) -> None:
    lyon, paris = (45.76, 4.84), (48.86, 2.35)
    created = create(api, admin, partner.url, format="csv", filter={
        "domains": ["clean_water_sanitation"], "kinds": ["problem"],
        "regions": [{"latitude": lyon[0], "longitude": lyon[1], "radius_km": 25}]})
    sid = created["schedule"]["id"]
    backdate(db, sid)
    wanted = approve(db, author, minutes_ago=30, domain="clean_water_sanitation", where=(45.75, 4.85),
                     title='Pump "B", north side', body="line one\nline two, with a comma")
    approve(db, author, minutes_ago=29, domain="clean_water_sanitation", where=paris)  # too far
    approve(db, author, minutes_ago=28, domain="education_access", where=lyon)  # other domain
    approve(db, author, minutes_ago=27, domain="clean_water_sanitation", where=lyon, kind="debate")
    approve(db, author, minutes_ago=26, domain="clean_water_sanitation")  # no location

    preview = api.get(f"/v1/admin/deliveries/schedules/{sid}/preview", key=admin).data
    assert preview["items"] == 1 and preview["content_type"].startswith("text/csv")
    assert partner.received == []  # a preview sends nothing

    service.claim_due(bootstrap.unit_of_work())
    drain_outbox()
    headers, body = partner.received[0]
    assert headers["content-type"].startswith("text/csv") and b"\r\n" in body
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert rows[0] == ["id", "kind", "title", "body", "domain", "latitude", "longitude", "decided_at",
                       "decided_by", "route_path", "created_at"]
    assert len(rows) == 2 and rows[1][0] == wanted
    assert rows[1][2] == 'Pump "B", north side' and rows[1][3] == "line one\nline two, with a comma"
    assert rows[1][7].endswith("Z")
    assert body.decode() == preview["sample"]


def test_a_vanished_worker_run_is_handed_out_again_after_its_lease(api: Api, admin: str, db: str, author: str,
                                                                   partner: Partner) -> None:
    sid = create(api, admin, partner.url)["schedule"]["id"]
    backdate(db, sid)
    approve(db, author, minutes_ago=10)
    service.claim_due(bootstrap.unit_of_work())
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM outbox")  # the message was taken by a worker that then died mid-run
        conn.execute("UPDATE delivery_runs SET status = 'running', attempts = 1,"
                     " started_at = now() - interval '1 hour'")
    assert service.claim_due(bootstrap.unit_of_work())["revived"] == 1
    drain_outbox()
    [run] = runs(api, admin, sid)
    assert run["status"] == "succeeded" and run["attempts"] == 2 and len(partner.received) == 1


def test_an_s3_target_receives_one_signed_object_per_run(api: Api, admin: str, db: str, author: str) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="partner-drop")
        sid = create(api, admin, "s3://partner-drop/peerguard/lyon")["schedule"]["id"]
        backdate(db, sid)
        item = approve(db, author, minutes_ago=10)
        service.claim_due(bootstrap.unit_of_work())
        run_id = uuid.UUID(runs(api, admin, sid)[0]["id"])
        assert service.run_delivery(bootstrap.unit_of_work(), DeliveryTargets(s3_client=s3), run_id) == "succeeded"
        [run] = runs(api, admin, sid)
        key = run["location"].removeprefix("s3://partner-drop/")
        assert key.startswith(f"peerguard/lyon/{sid}/") and key.endswith(".jsonl")
        obj = s3.get_object(Bucket="partner-drop", Key=key)
        body = obj["Body"].read()
        assert json.loads(body.decode().splitlines()[0])["id"] == item
        assert obj["Metadata"]["peerguard-delivery"] == str(run_id)
        assert obj["Metadata"]["peerguard-signature"].startswith("t=")


def test_put_keeps_the_watermark_and_the_secret_and_delete_stops_the_schedule(
    api: Api, admin: str, db: str, partner: Partner,
) -> None:
    created = create(api, admin, partner.url)
    sid = created["schedule"]["id"]
    body = {"partner": "Lyon water board", "target": partner.url, "cron": "0 * * * *", "active": False}
    updated = api.put(f"/v1/admin/deliveries/schedules/{sid}", key=admin, body=body)
    assert updated.status == 200 and updated.data["partner"] == "Lyon water board"
    assert updated.data["watermark_at"] == created["schedule"]["watermark_at"]
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT secret FROM delivery_schedules WHERE id = %s", (sid,)).fetchone()
    assert row is not None and row[0] == created["secret"]
    backdate(db, sid)
    assert service.claim_due(bootstrap.unit_of_work())["queued"] == 0  # inactive
    assert api.delete(f"/v1/admin/deliveries/schedules/{sid}", key=admin).status == 200
    assert api.get(f"/v1/admin/deliveries/schedules/{sid}", key=admin).status == 404
    assert api.post(f"/v1/admin/deliveries/schedules/{sid}/run-now", key=admin).status == 404


# --- SSRF outside the local stage ------------------------------------------------------------------

@pytest.fixture
def strict_stage(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("STAGE", "dev")
    reset_settings()


@pytest.mark.parametrize("target", [
    "http://partner.example/hook",  # not https
    "http://127.0.0.1:8123/hook",
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook", "https://192.168.0.10/",
    "https://169.254.169.254/latest/meta-data", "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook",
    "https://0.0.0.0/", "https://[fe80::1]/", "https://100.64.0.1/", "https://user:pw@partner.example/",
    "ftp://partner.example/", "file:///etc/passwd",
])
def test_outside_local_private_and_plain_http_targets_are_refused_at_save(
    api: Api, admin: str, strict_stage: None, target: str,
) -> None:
    answer = api.post("/v1/admin/deliveries/schedules", key=admin,
                      body={"partner": "p", "target": target, "cron": "0 * * * *"})
    assert answer.status == 400, (target, answer.body)
    assert answer.error["code"] == "VALIDATION_ERROR"


def test_outside_local_a_host_that_later_resolves_privately_is_refused_at_send(
    api: Api, admin: str, db: str, author: str, partner: Partner, *, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib.config import reset_settings

    # Saved (locally) with a name; by send time, outside local, the name points inside the network.
    sid = create(api, admin, "https://partner.example/hook")["schedule"]["id"]
    backdate(db, sid)
    approve(db, author, minutes_ago=10)
    service.claim_due(bootstrap.unit_of_work())
    monkeypatch.setenv("STAGE", "dev")
    reset_settings()
    run_id = uuid.UUID(runs(api, admin, sid)[0]["id"])
    outcome = service.run_delivery(bootstrap.unit_of_work(),
                                   DeliveryTargets(resolver=lambda host, port: ["93.184.216.34", "10.0.0.7"]),
                                   run_id)
    assert outcome == "retrying"
    [run] = runs(api, admin, sid)
    assert "target refused" in run["error"] and partner.received == []

