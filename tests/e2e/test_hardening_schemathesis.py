"""Property-based API testing with schemathesis against the local server: every operation of
/v1/openapi.json, called with generated valid and invalid requests under the right kind of key, must
never answer 5xx and never answer something its own schema does not describe.

Bounded: a few generated examples per operation (HARDENING_EXAMPLES, 8 by default), no deadline per
example; HARDENING_COVERAGE=1 adds schemathesis' coverage phase.
The figures of the run are written to build/hardening/schemathesis.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.e2e.test_local_server import ROOT, free_port

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("HARDENING_EXAMPLES", "8"))
# Schemathesis' coverage phase (boundary values, wrong types, missing fields for every parameter: about
# 35 cases per operation) is thorough but slow; the suite runs it on demand, e.g. before a release.
PHASES = [Phase.explicit, Phase.generate] if os.environ.get("HARDENING_COVERAGE") == "1" else [Phase.generate]
REPORT = ROOT / "build" / "hardening" / "schemathesis.json"
LOCAL_SERVER_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
FIGURES: dict[str, Any] = {"examples": 0, "operations": set(), "statuses": {}}


def _post(base: str, path: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())["data"]
        return data


@pytest.fixture(scope="module")
def hardening_server(database_url: str) -> Iterator[dict[str, str]]:
    """The local server on a fresh port, limits raised so that generated traffic is not rate limited,
    with an agent, a human and an admin key."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "POWERTOOLS_LOG_LEVEL": "ERROR",
           "RATE_LIMIT_AGENT_PER_MIN": "100000", "RATE_LIMIT_HUMAN_PER_MIN": "100000",
           "RATE_LIMIT_ADMIN_PER_MIN": "100000", "RATE_LIMIT_REGISTER_PER_MIN": "100000",
           "EVIDENCE_UPLOADS_PER_HOUR": "100000", "ATTESTATIONS_PER_HOUR": "100000"}
    env.pop("ANTHROPIC_API_KEY", None)
    log = (ROOT / "build" / "hardening")
    log.mkdir(parents=True, exist_ok=True)
    out = (log / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "local", "serve", "--port", str(port), "--no-seed"],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/v1/health", timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not start")
    try:
        admin = subprocess.run([sys.executable, "-m", "local", "admin-key"], cwd=ROOT, env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        agent = _post(base, "/v1/agents", {"name": "fuzz-agent", "kind": "agent"})["api_key"]
        human = _post(base, "/v1/agents", {"name": "fuzz-human", "kind": "human"})["api_key"]
        yield {"base": base, "admin": admin, "agent": agent, "human": human}
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()
        _write_report()


def _load_schema() -> Any:
    """The same document GET /v1/openapi.json serves (built from the route registry in-process)."""
    from app import app  # noqa: F401 - registers every route
    from chalicelib.entrypoints.api.openapi import build_openapi

    return schemathesis.openapi.from_dict(build_openapi())


schema = _load_schema()


def _key_for(method: str, path: str, keys: dict[str, str]) -> str | None:
    from chalicelib.entrypoints.api.framework import ROUTES

    auth = next(r.auth for r in ROUTES if r.method == method and r.path == path)
    role = {"admin": "admin", "human": "human", "public": None}.get(auth, "agent")
    return keys[role] if role else None


def _write_report() -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({
        "examples": FIGURES["examples"], "operations": len(FIGURES["operations"]),
        "statuses": dict(sorted(FIGURES["statuses"].items())), "max_examples_per_operation": EXAMPLES,
        "coverage_phase": Phase.explicit in PHASES, "skipped_methods": FIGURES.get("skipped_methods", 0),
    }, indent=2) + "\n")


@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=PHASES,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_outside_its_schema(case: Any, hardening_server: dict[str, str]) -> None:
    if case.method.upper() not in LOCAL_SERVER_METHODS:
        # The local runner's http.server answers other methods (TRACE, QUERY, ...) itself with 501;
        # API Gateway never passes them to the app. Every method that reaches the app is checked.
        FIGURES["skipped_methods"] = FIGURES.get("skipped_methods", 0) + 1
        return
    key = _key_for(case.operation.method.upper(), case.operation.path, hardening_server)
    # The key of the route's role replaces any Authorization header schemathesis generated.
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = case.call(base_url=hardening_server["base"], headers=headers, timeout=20)
    FIGURES["examples"] += 1
    FIGURES["operations"].add(f"{case.operation.method.upper()} {case.operation.path}")
    FIGURES["statuses"][str(response.status_code)] = FIGURES["statuses"].get(str(response.status_code), 0) + 1
    case.validate_response(response, checks=[
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_schema_conformance,
        # Not negative_data_rejection: the test sets the right key on every case, which turns
        # schemathesis' invalid-Authorization cases into valid requests (false "accepted" reports).
        # Invalid bodies and parameters are covered by tests/integration/test_hardening_naughty.py.
    ])


def test_the_run_covered_every_operation(hardening_server: dict[str, str]) -> None:
    """Runs after the generated cases (same module): the figures are there and cover the API."""
    from chalicelib.entrypoints.api.framework import ROUTES

    covered = FIGURES["operations"]
    if not covered:
        pytest.skip("the generated cases did not run in this session (deselected)")
    assert covered == {f"{r.method} {r.path}" for r in ROUTES}
    assert FIGURES["examples"] >= len(ROUTES)
    _write_report()
