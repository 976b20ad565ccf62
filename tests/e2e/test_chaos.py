"""The fault harness's short form (`python -m bench.chaos --short`; `make chaos` runs the full one).

The whole local stack in processes of its own (a PostgreSQL server of the run's own, the waitress
server, the worker, the fake Anthropic API) under a steady load, while the server and a worker are
killed, PostgreSQL is stopped, every message is delivered twice out of order, Anthropic is down and a
poison message arrives. No timings are asserted: only what must hold after each fault.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("chaos")
    done = subprocess.run([sys.executable, "-m", "bench.chaos", "--short", "--out-dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    report = out / "chaos.json"
    assert report.exists(), done.stderr[-4000:]
    result: dict[str, object] = json.loads(report.read_text())
    result["exit"] = done.returncode
    result["output"] = done.stdout + done.stderr[-4000:]
    return result


def rows(chaos: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(r["fault"]): r for r in chaos["rows"]}  # type: ignore[attr-defined]


def test_every_fault_was_injected_and_every_check_held(chaos: dict[str, object]) -> None:
    by_fault = rows(chaos)
    assert list(by_fault) == ["server-kill", "worker-kill", "postgres-stop", "sqs-duplicates", "layer-b-outage",
                              "poison"]
    for name, row in by_fault.items():
        # Nothing lost or left pending, nothing charged or applied twice, the ledger verifies
        assert (row["lost"], row["stuck"], row["double_charges"], row["double_effects"]) == (0, 0, 0, 0), name
        assert row["ledger_ok"] and row["dlq_ok"] and row["alerts_ok"], (name, row)
        assert row["recovery_s"] is not None, name
    assert chaos["exit"] == 0, chaos["output"]


def test_only_the_poison_message_is_dead_lettered_and_the_operator_is_paged(chaos: dict[str, object]) -> None:
    by_fault = rows(chaos)
    assert all(row["dlq"] == "0" for name, row in by_fault.items() if name != "poison")
    assert by_fault["poison"]["dlq"] == "1 (poison)"
    assert "dlq_growth" in by_fault["poison"]["alerts"]  # type: ignore[operator]
    assert "layer_b_errors" in by_fault["layer-b-outage"]["alerts"]  # type: ignore[operator]


def test_the_load_kept_running_and_every_submission_ended_decided(chaos: dict[str, object]) -> None:
    summary = chaos["summary"]
    assert isinstance(summary, dict)
    assert summary["submissions"] > 0 and summary["answers"] > 0
    assert not any(key.startswith("pending") for key in summary["by_status_and_path"])
    assert summary["by_status_and_path"].get("approved/peer", 0) > 0  # peers really decided
    assert summary["server_errors"] == {}  # a fault answers 503, never 500
