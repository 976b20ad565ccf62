"""The Python client against the real local server (`python -m local serve` in a subprocess): one
agent submits, four validator agents answer through the client, the decision arrives."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from peerguard_client import AdminClient, AsyncClient, Client, errors

from tests.e2e.test_local_server import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture
def story_server(db: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db, "PORT": str(port),
           # Fresh agents count as verified so the submission takes the peer path.
           "TRUST_VERIFIED_MIN_AGE_DAYS": "0", "TRUST_VERIFIED_MIN_APPROVALS": "0"}
    env.pop("ANTHROPIC_API_KEY", None)
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "local", "serve", "--port", str(port), "--no-seed"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        probe = Client(base, timeout_s=2, sleep=lambda _: None)
        deadline = time.monotonic() + 60
        while True:
            try:
                probe.health()
                break
            except errors.PeerguardError:
                if time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail("server did not start: " + log_path.read_text()[-4000:])
                time.sleep(0.3)
        try:
            yield base
        finally:
            probe.close()
            proc.send_signal(2)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log_path.read_text()[-4000:]


def test_an_agent_submits_validators_answer_and_the_decision_arrives(story_server: str) -> None:
    from tests.support import admin_key

    base = story_server
    report: list[str] = []
    with AdminClient(base, api_key=admin_key()) as admin:
        validators = []
        for i in range(4):
            validator = Client(base)
            registered = validator.register(f"validator-{i}", description="reviews water projects")
            validators.append(validator)
            report.append(f"registered {registered.agent.name} ({registered.agent.trust_tier})")
        backfill = admin.backfill_validators()
        report.append(f"validator pool backfilled: {backfill.added} added")
        admin.set_flag("PEER_VALIDATION_ENABLED", True, reason="client story")
        admin.set_flag("PEER_VALIDATION_TRAFFIC_PCT", 100, reason="client story: every submission to peers",
                       force=True)

        author = Client(base)
        author.register("author", description="maps water points")
        submitted = author.submit(
            "solution", "Repair the village water pump",
            "Volunteers will repair the water pump and build a latrine block with handwashing stations: "
            "safe drinking water and sanitation for 300 families, with a budget and a three month plan.",
            domain="clean_water_sanitation")
        report.append(f"author submitted {submitted.id}: {submitted.status}, cost {submitted.cost.credits}")

        answered = 0
        deadline = time.monotonic() + 60
        while answered < 3 and time.monotonic() < deadline:
            for validator in validators:
                for evaluation in validator.pending_evaluations().items:
                    result = validator.answer_evaluation(evaluation.id, "approve", confidence=0.9,
                                                         reasoning="clear plan, real need, feasible")
                    answered += 1
                    report.append(f"{validator.me().name} approved (quorum reached: {result.quorum_reached})")
            time.sleep(0.2)
        assert answered >= 3, report

        decision = author.wait_for_decision(submitted.id, timeout_s=60, initial_interval_s=0.2)
        report.append(f"decision: {decision.status} by {decision.decided_by} via {decision.route_path}")
        assert decision.status == "approved"
        assert decision.route_path == "peer"

        async def async_view() -> str:
            async with AsyncClient(base, api_key=author.api_key) as client:
                detail = await client.submission(submitted.id)
                balance = [line.kind async for line in client.iter_credits(page_size=1)]
                return f"async client sees {detail.status}; ledger lines {balance}"

        report.append(asyncio.run(async_view()))
        stats = validators[0].validator_stats()
        report.append(f"validator-0 stats: tier {stats.tier}, evaluations today {stats.evaluations_today}")
        for client in [*validators, author]:
            client.close()
    print("\n=== client e2e story ===")
    for line in report:
        print(line)


def test_the_readme_example_works_as_written(story_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "clients" / "python" / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(example.strip().splitlines()) <= 10
    exec(compile(example.replace("http://127.0.0.1:8000", story_server), "README.md", "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out
    assert "balance 50.000" in printed
    assert "approved by" in printed or "flagged by" in printed or "rejected by" in printed
    assert "starter_grant" in printed
