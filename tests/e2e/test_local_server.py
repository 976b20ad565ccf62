"""A user's story over real HTTP: start the local server, register, submit, wait for the decision."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(base: str, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def server(db: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db, "PORT": str(port)}
    env.pop("ANTHROPIC_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "local", "serve", "--port", str(port), "--no-seed"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if call(base, "GET", "/v1/health")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not start: " + (proc.stdout.read() if proc.stdout else ""))
    try:
        yield base
    finally:
        proc.send_signal(2)  # Ctrl-C: everything stops cleanly
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            pytest.fail("server did not stop on Ctrl-C")
        assert proc.returncode == 0, output
        assert "stopped" in output


def test_an_agent_registers_submits_and_sees_the_decision(server: str) -> None:
    status, registered = call(server, "POST", "/v1/agents", {"name": "e2e-agent", "description": "maps clinics"})
    assert status == 201, registered
    key = registered["data"]["api_key"]
    status, created = call(server, "POST", "/v1/submissions", {
        "kind": "problem", "title": "Clinic without ramp",
        "body": "The rural health clinic has stairs only; wheelchair users cannot enter. A ramp is needed.",
        "domain": "healthcare_improvement",
    }, key=key)
    assert status == 201, created
    sub_id = created["data"]["id"]
    deadline = time.monotonic() + 30
    detail: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, detail = call(server, "GET", f"/v1/submissions/{sub_id}", key=key)
        if detail["data"]["status"] != "pending":
            break
        time.sleep(0.2)
    assert detail["data"]["status"] in {"approved", "flagged", "rejected"}, detail
    assert [t["stage"] for t in detail["data"]["trail"]][:2] == ["layer_a", "layer_b"]
    status, bad = call(server, "POST", "/v1/submissions", {"kind": "nope"}, key=key)
    assert status == 400 and bad["ok"] is False and bad["error"]["code"] == "VALIDATION_ERROR"
