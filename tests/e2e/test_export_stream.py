"""Exports through the local HTTP front (waitress): the body is streamed chunked, never sized up front;
a client hanging up mid-stream frees the export's slot and database connection; two exports at once
per process, the third is told to come back."""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from chalice.cli.factory import CLIFactory

from chalicelib.domain import exports as export_rules
from tests.e2e.test_local_server import ROOT, free_port
from tests.support import admin_key

pytestmark = pytest.mark.e2e

DAY = datetime.now(UTC).date() - timedelta(days=1)
ROWS = 5_000


def seed(url: str, rows: int) -> None:
    """Decided submissions of one agent, spread over DAY."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO agents (id, kind, name, owner_id) VALUES"
                     " ('00000000-0000-0000-0000-0000000000aa', 'agent', 'bulk', gen_random_uuid())")
        conn.execute(
            "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by, route_path,"
            " created_at, decided_at) SELECT gen_random_uuid(), '00000000-0000-0000-0000-0000000000aa', 'problem',"
            " 'Title, \"quoted\" ' || i, 'Body line one' || chr(10) || 'line two ' || i, md5(i::text), 'approved',"
            " 'peer', 'peer', %s::date + (i || ' seconds')::interval, %s::date + (i || ' seconds')::interval"
            " + interval '1 second' FROM generate_series(1, %s) AS i",
            (DAY, DAY, rows),
        )


@pytest.fixture
def served(db: str) -> Iterator[tuple[int, str]]:
    from app import app
    from local.wsgi import make_server

    seed(db, ROWS)
    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="local")
    port = free_port()
    server = make_server(app, config, "127.0.0.1", port, max_body_bytes=262_144)
    def run() -> None:
        with contextlib.suppress(OSError):  # closed under the loop at teardown
            server.run()

    threading.Thread(target=run, daemon=True).start()
    yield port, admin_key()
    server.close()


def get(port: int, path: str, key: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    return conn.getresponse()


def test_a_csv_export_is_streamed_chunked_and_complete(served: tuple[int, str]) -> None:
    port, key = served
    answer = get(port, f"/v1/admin/exports/decisions?from={DAY}&to={DAY}&format=csv", key)
    assert answer.status == 200
    assert answer.getheader("Transfer-Encoding") == "chunked" and answer.getheader("Content-Length") is None
    assert answer.getheader("Content-Type", "").startswith("text/csv")
    text = answer.read().decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == ROWS
    assert list(rows[0]) == list(export_rules.COLUMNS["decisions"])
    assert rows[0]["body"].startswith("Body line one\nline two")
    decided = [r["decided_at"] for r in rows]
    assert decided == sorted(decided)


def test_a_json_export_is_streamed_and_parses(served: tuple[int, str]) -> None:
    port, key = served
    answer = get(port, f"/v1/admin/exports/decisions?from={DAY}&to={DAY}&format=json", key)
    assert answer.status == 200 and answer.getheader("Transfer-Encoding") == "chunked"
    body: list[dict[str, Any]] = json.loads(answer.read())
    assert len(body) == ROWS


def wsgi_call(app: Any, path: str, key: str) -> tuple[str, Any]:
    """One request straight into the WSGI application, its body iterable not yet consumed."""
    route, _, query = path.partition("?")
    status: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query, "wsgi.input": io.BytesIO(),
               "HTTP_AUTHORIZATION": f"Bearer {key}", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80"}
    body = app(environ, lambda s, h: status.append(s))
    return status[0], body


def test_a_closed_stream_frees_its_slot_and_a_third_concurrent_export_is_429(served: tuple[int, str]) -> None:
    from app import app
    from local.wsgi import ChaliceWSGI

    _, key = served
    front = ChaliceWSGI(app, CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="local"), 262_144)
    path = f"/v1/admin/exports/decisions?from={DAY}&to={DAY}&format=csv"
    # Given two exports in flight (each has opened its transaction; nothing sent yet)
    first, second = wsgi_call(front, path, key), wsgi_call(front, path, key)
    assert first[0].startswith("200") and second[0].startswith("200")
    # Then a third is told to come back
    status, body = wsgi_call(front, path, key)
    assert status.startswith("429") and json.loads(b"".join(body))["error"]["code"] == "RATE_LIMITED"
    # When the server closes one (its client hung up) before sending a byte
    first[1].close()
    # Then an export runs again, and it is complete
    status, body = wsgi_call(front, path, key)
    assert status.startswith("200")
    assert len(list(csv.reader(io.StringIO(b"".join(body).decode(), newline="")))) == ROWS + 1
    body.close()
    second[1].close()


def test_a_large_export_is_a_job_whose_file_the_local_server_streams_to_its_admin(
    served: tuple[int, str], db: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings
    from chalicelib.services import exports as export_service
    from tests.support import drain_outbox

    port, key = served
    monkeypatch.setenv("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("EXPORT_JOB_THRESHOLD_BYTES", "100000")  # the 5,000 rows here are about 600 KB
    reset_settings()
    # Given an export larger than the threshold: the server answers 202 with the job
    answer = get(port, f"/v1/admin/exports/decisions?from={DAY}&to={DAY}&format=csv", key)
    assert answer.status == 202
    job = json.loads(answer.read())["data"]
    assert answer.getheader("Location") == f"/v1/admin/exports/jobs/{job['id']}"
    # When the dispatcher hands the job to the worker
    drain_outbox()
    done = get(port, f"/v1/admin/exports/jobs/{job['id']}", key)
    assert json.loads(done.read())["data"]["status"] == "succeeded"
    link = json.loads(get(port, f"/v1/admin/exports/jobs/{job['id']}/download", key).read())["data"]
    assert link["url"] == f"http://127.0.0.1:{port}/v1/admin/exports/jobs/{job['id']}/file"
    # Then the file route streams it, chunked, to the admin key that asked, and it is the export
    file = get(port, link["url"].removeprefix(f"http://127.0.0.1:{port}"), key)
    assert file.status == 200 and file.getheader("Transfer-Encoding") == "chunked"
    assert file.getheader("Cache-Control") == "private, no-store"
    request = export_service.ExportRequest(kind="decisions", fmt="csv", start=DAY, end=DAY)
    assert file.read() == b"".join(export_service.stream(bootstrap.unit_of_work(), request))
    # and to nobody else
    assert get(port, link["url"].removeprefix(f"http://127.0.0.1:{port}"), admin_key()).status == 404
