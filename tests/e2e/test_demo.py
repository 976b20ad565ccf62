"""`python -m local demo peer` tells the whole peer story and ends where it says it does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.test_local_server import ROOT

pytestmark = pytest.mark.e2e


def test_the_peer_demo_reaches_a_peer_decision_and_a_rollback(db: str) -> None:
    env = {**os.environ, "DATABASE_URL": db}
    env.pop("ANTHROPIC_API_KEY", None)
    done = subprocess.run([sys.executable, "-m", "local", "demo", "peer"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in ("Switch 1 - backfill", "Switch 2 - PUT /v1/admin/flags/PEER_VALIDATION_ENABLED",
                 "Switch 3 - PUT /v1/admin/flags/PEER_VALIDATION_TRAFFIC_PCT 100",
                 "6 validators assigned, quorum 3", "peer decision: approved (decided_by peer",
                 "PEER_VALIDATION_TRAFFIC_PCT: 100 -> 0", "approved (decided_by layer_b)"):
        assert line in out, out
    assert "Traceback" not in done.stderr and '"_aws"' not in out and "RuntimeDirWarning" not in done.stderr
