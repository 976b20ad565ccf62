"""Finding 4: with the database unreachable (for real: the pool points at a port nobody listens on), every
route answers 503 UNAVAILABLE with Retry-After within about a second, counted as a metric; workers and
schedules keep their longer wait."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from psycopg_pool import PoolTimeout

from chalicelib import bootstrap
from chalicelib.config import reset_settings
from chalicelib.db.pool import close_pool, transaction
from tests.support import Api, api_client

FAKE_KEY = "pgk_0123456789ab_" + "A" * 43


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # released on close: nothing listens there afterwards


@pytest.fixture
def database_down(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    close_pool()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://peerguard@127.0.0.1:{closed_port()}/peerguard")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", "3")
    reset_settings()
    bootstrap.reset()
    try:
        yield
    finally:
        close_pool()  # the next test opens a pool on its own database again


@pytest.fixture
def api(database_down: None) -> Iterator[Api]:
    with api_client() as client:
        yield client


@pytest.mark.parametrize(
    "request_",
    [
        ("GET", "/v1/agents/me", FAKE_KEY, None),
        ("POST", "/v1/agents", None, {"name": "newcomer"}),
        ("POST", "/v1/submissions", FAKE_KEY, {"kind": "problem", "title": "t", "body": "b"}),
        ("GET", "/v1/health", None, None),
    ],
)
def test_finding_4_database_down_answers_503_with_retry_after_within_about_a_second(
        api: Api, capsys: pytest.CaptureFixture[str],
        request_: tuple[str, str, str | None, dict[str, str] | None]) -> None:
    method, path, key, body = request_
    started = time.monotonic()
    answer = api.call(method, path, key=key, body=body)
    elapsed = time.monotonic() - started
    assert answer.status == 503, answer.body
    assert answer.error["code"] == "UNAVAILABLE" and answer.body["requestId"]
    assert int(answer.headers["retry-after"]) > 0
    assert elapsed < 5, elapsed  # the API waits DB_API_ACQUIRE_TIMEOUT_S (1 s), not the pool's 3 s (10 s before)
    if path != "/v1/health":
        emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        assert any("DatabaseUnavailable" in doc for doc in emitted)


def test_finding_4_workers_keep_their_longer_wait(database_down: None) -> None:
    started = time.monotonic()
    with pytest.raises(PoolTimeout), transaction():
        pass
    assert time.monotonic() - started >= 2.5  # DB_CONNECT_TIMEOUT_S (3 s here) outside a request
