"""The local server is what people evaluate the product with: hostile or clumsy HTTP must not hurt it.

Each case speaks raw HTTP over a socket (no client library smoothing things over) and checks the
answer is our envelope, the server keeps serving, and nothing prints a traceback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.e2e.test_local_server import ROOT, call, free_port

pytestmark = pytest.mark.e2e


@dataclass
class Server:
    host: str
    port: int

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[str]]]:
    from local import database

    url = database.create_scratch_database("peerguard_e2e_http")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "PORT": str(port)}
    env.pop("ANTHROPIC_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "local", "serve", "--port", str(port), "--no-seed"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    server = Server("127.0.0.1", port)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if call(server.base, "GET", "/v1/health")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not start: " + (proc.stdout.read() if proc.stdout else ""))
    output: list[str] = []
    try:
        yield server, output
    finally:
        proc.send_signal(2)
        try:
            text, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            text, _ = proc.communicate()
        output.append(text)
        database.drop_database("peerguard_e2e_http")
    assert proc.returncode == 0, text
    assert "Traceback" not in text, text


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP answer from ``sock``: status, headers (lower-cased names) and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def raw(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is and read the answer."""
    with socket.create_connection((server.host, server.port), timeout=15) as sock:
        sock.sendall(request)
        return read_answer(sock)


def assert_envelope(body: bytes, code: str) -> dict[str, object]:
    document = json.loads(body)
    assert document["ok"] is False
    assert document["error"]["code"] == code
    assert document["requestId"]
    return dict(document)


def test_a_content_length_that_is_not_a_number_gets_a_400_envelope(served: tuple[Server, list[str]]) -> None:
    server, _ = served
    status, headers, body = raw(server, b"POST /v1/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                        b"Content-Length: abc\r\n\r\n{}")
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert_envelope(body, "VALIDATION_ERROR")


def test_a_huge_declared_length_gets_a_413_envelope_at_once(served: tuple[Server, list[str]]) -> None:
    server, _ = served
    status, _, body = raw(server, b"POST /v1/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: 99999999999999999999999999\r\n\r\n")
    assert status == 413
    assert_envelope(body, "PAYLOAD_TOO_LARGE")


def test_a_200_mb_body_is_refused_before_it_is_read(served: tuple[Server, list[str]]) -> None:
    server, _ = served
    declared = 200 * 1024 * 1024
    with socket.create_connection((server.host, server.port), timeout=15) as sock:
        sock.sendall(b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {declared}\r\n\r\n".encode() + b"x" * 65536)
        # Only 64 KiB of the 200 MB were sent: the answer comes anyway, so the server read no further.
        status, _, body = read_answer(sock)
    assert status == 413
    assert_envelope(body, "PAYLOAD_TOO_LARGE")


def test_a_chunked_body_over_the_limit_gets_a_413(served: tuple[Server, list[str]]) -> None:
    server, _ = served
    chunk = b"x" * (1024 * 1024)
    request = b"POST /v1/agents HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=15) as sock:
        sock.sendall(request)
        answer = b""
        try:
            for _ in range(40):
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the server closed its side after answering
        while b"\r\n\r\n" not in answer:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    assert answer.startswith(b"HTTP/1.1 413")


def test_oversized_headers_get_an_envelope_not_html(served: tuple[Server, list[str]]) -> None:
    server, _ = served
    status, headers, body = raw(server, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Padding: "
                                        + b"a" * 100_000 + b"\r\n\r\n")
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert_envelope(body, "HEADERS_TOO_LARGE")


def test_head_answers_like_get_without_a_body(served: tuple[Server, list[str]]) -> None:
    server, _ = served
    with socket.create_connection((server.host, server.port), timeout=15) as sock:
        sock.sendall(b"HEAD /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Content-Length: 0" not in head
    assert body == b""


def test_an_unknown_route_gets_a_404_envelope(served: tuple[Server, list[str]]) -> None:
    server, _ = served
    status, _, body = raw(server, b"GET /v1/no-such-thing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 404
    assert_envelope(body, "NOT_FOUND")


def test_twenty_four_concurrent_connections_are_all_served(served: tuple[Server, list[str]]) -> None:
    server, _ = served

    def one(_: int) -> int:
        return raw(server, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]

    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(one, range(24)))
    assert statuses == [200] * 24


def test_clients_that_hang_up_leave_no_trace_and_the_server_keeps_serving(
    served: tuple[Server, list[str]],
) -> None:
    server, _ = served
    for request in (
        b"POST /v1/agents HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"name\":",  # body cut short
        b"GET /v1/hea",  # request line cut short
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",  # hangs up before reading the answer
    ):
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.sendall(request)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # linger 0: a reset, the rudest hang-up there is
    time.sleep(0.5)
    assert call(server.base, "GET", "/v1/health")[0] == 200


def test_parallel_requests_each_see_their_own_caller(served: tuple[Server, list[str]]) -> None:
    server, _ = served
    agents = []
    for n in range(12):
        status, registered = call(server.base, "POST", "/v1/agents", {"name": f"parallel-{n}"})
        assert status == 201, registered
        agents.append((registered["data"]["agent"]["id"], registered["data"]["api_key"]))

    def whoami(index: int) -> tuple[str, str]:
        agent_id, key = agents[index % len(agents)]
        return agent_id, call(server.base, "GET", "/v1/agents/me", key=key)[1]["data"]["id"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        seen = list(pool.map(whoami, range(600)))
    assert all(expected == got for expected, got in seen)
