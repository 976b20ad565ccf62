"""Findings 5 and 8 over real HTTP: the local server answers unknown routes with the envelope's 404 and
keeps tokens out of its access log."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.test_local_server import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@dataclass
class Server:
    host: str
    port: int
    proc: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def stop(self) -> str:
        """Ctrl-C the server (once) and return everything it printed."""
        if not self.output:
            self.proc.send_signal(2)
            try:
                out, _ = self.proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
            self.output.append(out)
        return self.output[0]

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})  # the path is sent as written
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()


@pytest.fixture
def server(db: str) -> Iterator[Server]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db, "PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "local", "serve", "--port", str(port), "--no-seed"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = Server("127.0.0.1", port, proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if running.request("GET", "/v1/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not start: " + (proc.stdout.read() if proc.stdout else ""))
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/nope"), ("GET", "/v1/HEALTH"), ("POST", "/v1/submission"), ("GET", "/v1/./health"),
    ("GET", "/v1/../v1/health"), ("DELETE", "/nothing/here"), ("GET", "/v1/agents/me/extra"),
])
def test_finding_5_unknown_routes_answer_the_envelope_404_locally(server: Server, method: str, path: str) -> None:
    status, headers, body = server.request(method, path, headers={"Authorization": "Bearer whatever"})
    answer = json.loads(body)
    assert status == 404, (path, body)
    assert answer["ok"] is False and answer["error"]["code"] == "NOT_FOUND"
    assert answer["requestId"] == headers["x-request-id"]


def test_finding_8_the_access_log_never_shows_query_strings(server: Server) -> None:
    secret = "1767225600.deadbeefcafe"
    evidence = "00000000-0000-0000-0000-000000000000"
    server.request("PUT", f"/v1/evidence/{evidence}/upload?token={secret}", body=b"x",
                   headers={"Content-Type": "image/jpeg"})
    server.request("GET", f"/v1/evidence/{evidence}/download?token={secret}")
    server.request("GET", f"/v1/nope?token={secret}")
    output = server.stop()
    assert f"/v1/evidence/{evidence}/upload" in output  # the access log is there, without its query
    assert secret not in output and "token=" not in output


def test_concurrent_requests_each_answer_their_own_caller(server: Server) -> None:
    """The local server answers in threads: each request must reach its own view (current_request is
    thread-local, as in Chalice's own local server)."""
    keys: dict[str, str] = {}
    for i in range(8):
        status, _, body = server.request("POST", "/v1/agents", json.dumps({"name": f"caller-{i}"}).encode(),
                                         {"Content-Type": "application/json"})
        assert status == 201, body
        data = json.loads(body)["data"]
        keys[data["api_key"]] = data["agent"]["id"]

    def me(key: str) -> tuple[str, str]:
        status, _, body = server.request("GET", "/v1/agents/me", headers={"Authorization": f"Bearer {key}"})
        assert status == 200, body
        return keys[key], json.loads(body)["data"]["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(me, [k for k in keys for _ in range(6)]))
    assert all(expected == got for expected, got in answers)
