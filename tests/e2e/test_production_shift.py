"""The production shift over real HTTP: shadow mode, traffic 0 -> 10 -> 50 -> 100 %, then a rollback.

Twenty validator agents review 300 submissions from ten authors against the local server (API,
outbox dispatcher and scheduler in one subprocess). Validators judge the content they are shown
(one of them approves everything, the others slip now and then); Layer B is the offline stand-in.
Every submission must end terminal, the rollback must send every later submission to Layer B, and
the shadow agreement and decision gates are printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local_server import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

VALIDATORS = 20
AUTHORS = 10
PHASES = [("shadow", 0, 140), ("10 %", 10, 40), ("50 %", 50, 40), ("100 %", 100, 50), ("rollback", 0, 30)]
GOOD_BODY = ("Volunteers will repair the village water pump and build a latrine block with handwashing "
             "stations: safe drinking water, sanitation and hygiene for 300 families. Budget, a three month "
             "plan and monthly survey data.")
BAD_BODY = "Thoughts on sofa colours, cushions and curtains for a living room makeover this weekend."


def call(base: str, method: str, path: str, body: Any = None, key: str | None = None, *,
         timeout: float = 60) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def shift_server(db: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ, "DATABASE_URL": db, "PORT": str(port),
        "TRUST_VERIFIED_MIN_AGE_DAYS": "0", "TRUST_VERIFIED_MIN_APPROVALS": "0",
        # A load story: the per-key limits and the daily quota are not what is under test here.
        "RATE_LIMIT_AGENT_PER_MIN": "100000", "RATE_LIMIT_ADMIN_PER_MIN": "100000",
        "VALIDATOR_DAILY_QUOTA": "100000", "VALIDATOR_SHADOW_DAILY_QUOTA": "100000", "DB_POOL_MAX_SIZE": "16",
    }
    env.pop("ANTHROPIC_API_KEY", None)
    # A file, not a pipe: nobody reads a pipe during the story, and a full one would stall the server.
    log_path = tmp_path / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "local", "serve", "--port", str(port), "--no-seed"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if call(base, "GET", "/v1/health")[0] == 200:
                break
        except (TimeoutError, urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    else:
        proc.kill()
        log.close()
        pytest.fail("server did not start: " + log_path.read_text()[-4000:])
    try:
        yield base
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        assert proc.returncode == 0, log_path.read_text()[-4000:]


class Shift:
    def __init__(self, base: str, admin: str, pool: ThreadPoolExecutor) -> None:
        self.base = base
        self.admin = admin
        self.pool = pool
        self.validators: list[str] = []
        self.authors: list[str] = []
        self.labels: dict[str, str] = {}  # title -> "good" | "bad"
        self.phase_of: dict[str, str] = {}  # submission id -> phase
        self.answers: Counter[str] = Counter()

    def ok(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        status, answer = call(self.base, method, path, body, key=key or self.admin)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer["data"]

    def register(self, name: str) -> str:
        return str(self.ok("POST", "/v1/agents", {"name": name})["api_key"])

    def set_flag(self, name: str, value: Any, reason: str, force: bool = False) -> tuple[int, Any]:
        return call(self.base, "PUT", f"/v1/admin/flags/{name}",
                    {"value": value, "reason": reason, "force": force}, key=self.admin)

    def submit(self, phase: str, count: int) -> list[str]:
        def one(i: int) -> str:
            n = len(self.labels) + i
            good = n % 5 != 0  # one in five is off-topic: Layer B rejects it
            title = f"{'Water pump repair' if good else 'Sofa colours'} #{n}"
            status, created = call(self.base, "POST", "/v1/submissions", {
                "kind": "solution" if good else "debate", "title": title, "body": GOOD_BODY if good else BAD_BODY,
                "domain": "clean_water_sanitation" if good else None,
            }, key=self.authors[n % AUTHORS])
            assert status == 201, created
            return f"{created['data']['id']}|{title}|{'good' if good else 'bad'}"

        ids = []
        # The first submission warms the process up (Layer A builds its matchers once), then in parallel.
        first = [one(0)] if not self.labels else []
        for row in [*first, *self.pool.map(lambda i: one(i + len(first)), range(count - len(first)))]:
            sub_id, title, label = row.split("|")
            self.labels[title] = label
            self.phase_of[sub_id] = phase
            ids.append(sub_id)
        return ids

    def judge(self, index: int, evaluation: dict[str, Any]) -> str:
        truth = self.labels[evaluation["submission"]["title"]]
        if index == 0:
            return "approve"  # the careless one
        slip = int(hashlib.sha256(evaluation["id"].encode()).hexdigest()[:4], 16) % 100 < 5
        right = "approve" if truth == "good" else "reject"
        return ("reject" if right == "approve" else "approve") if slip else right

    def validator_round(self) -> int:
        # The authors are verified agents too: the validator_backfill schedule puts them in the pool.
        reviewers = self.validators + self.authors

        def work(index: int) -> int:
            key = reviewers[index]
            done = 0
            for evaluation in self.ok("GET", "/v1/evaluations/pending?limit=100", key=key):
                decision = self.judge(index, evaluation)
                status, answer = call(self.base, "POST", f"/v1/evaluations/{evaluation['id']}", {
                    "decision": decision, "confidence": 0.9, "reasoning": "Judged on the content shown."}, key=key)
                self.answers[str(status)] += 1
                assert status in (200, 409, 410), (status, answer)  # 410: consensus was reached without this one
                done += 1
            return done

        return sum(self.pool.map(work, range(len(reviewers))))

    def pending(self, ids: list[str]) -> list[str]:
        statuses = self.pool.map(lambda s: self.ok("GET", f"/v1/submissions/{s}")["status"], ids)
        return [s for s, status in zip(ids, statuses, strict=True) if status == "pending"]

    def settle(self, ids: list[str], timeout_s: float = 60) -> None:
        """Validators answer until nothing of the phase is pending and the consensus stage is idle."""
        deadline = time.monotonic() + timeout_s
        quiet_rounds = 0
        last_rounds = -1
        while time.monotonic() < deadline:
            answered = self.validator_round()
            rounds = self.ok("GET", "/v1/admin/decision-gates")["figures"]["consensus_rounds"]
            if answered == 0 and rounds == last_rounds and not self.pending(ids):
                quiet_rounds += 1
                if quiet_rounds >= 2:
                    return
            else:
                quiet_rounds = 0
            last_rounds = rounds
            time.sleep(0.3)
        pytest.fail(f"phase did not settle: {len(self.pending(ids))} pending")


def test_traffic_shifts_0_10_50_100_then_rolls_back_and_every_submission_ends_terminal(
    shift_server: str,
) -> None:
    from tests.support import admin_key

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        shift = Shift(shift_server, admin_key(), pool)
        shift.validators = list(pool.map(lambda i: shift.register(f"validator-{i}"), range(VALIDATORS)))
        backfill = shift.ok("POST", "/v1/admin/validators/backfill")
        assert backfill["pool_size"] >= VALIDATORS  # the validator_backfill schedule may have added some first
        shift.authors = list(pool.map(lambda i: shift.register(f"author-{i}"), range(AUTHORS)))  # not validators
        assert shift.set_flag("PEER_VALIDATION_ENABLED", True, "start shadow mode")[0] == 200

        report: list[str] = []
        rollback_ids: list[str] = []
        for phase, pct, count in PHASES:
            if phase == "rollback":
                rolled = shift.ok("POST", "/v1/admin/rollback", {"reason": "end of the story"})
                report.append(f"rollback: {rolled['previous_value']} -> {rolled['value']} "
                              f"(effective within {rolled['effective_within_seconds']} s)")
            elif pct > 0:
                status, answer = shift.set_flag("PEER_VALIDATION_TRAFFIC_PCT", pct, f"shift to {pct} %")
                if status == 409:  # the gate's figures, then the operator's forced, reasoned raise
                    report.append(f"raise to {pct} % refused: {answer['error']['details']}")
                    status, answer = shift.set_flag("PEER_VALIDATION_TRAFFIC_PCT", pct,
                                                    f"shift to {pct} % after review", force=True)
                assert status == 200, answer
                gate = answer["data"]["gate"]
                report.append(f"traffic {gate['current_pct']} -> {pct} %: {gate['reason']} "
                              f"(agreement {gate['shadow_agreement']}, {gate['comparisons']} comparisons)")
            ids = shift.submit(phase, count)
            shift.settle(ids)
            if phase == "rollback":
                rollback_ids = ids
            shadow = shift.ok("GET", "/v1/admin/shadow")
            report.append(f"after {phase}: {len(ids)} submitted, shadow agreement {shadow['agreement']} over "
                          f"{shadow['comparisons']} comparisons")

        details = list(pool.map(lambda s: shift.ok("GET", f"/v1/submissions/{s}"), list(shift.phase_of)))
        gates = shift.ok("GET", "/v1/admin/decision-gates")
        spot = shift.ok("GET", "/v1/admin/spot-checks/stats")
        careless = shift.ok("GET", "/v1/validator/stats", key=shift.validators[0])
        careful = [shift.ok("GET", "/v1/validator/stats", key=k) for k in shift.validators[1:4]]

    by_phase: dict[str, Counter[str]] = {}
    for d in details:
        by_phase.setdefault(shift.phase_of[d["id"]], Counter())[f"{d['status']}/{d['decided_by']}"] += 1
    print("\n=== production shift ===")
    for line in report:
        print(line)
    for phase, counts in by_phase.items():
        print(f"{phase:>9}: {dict(sorted(counts.items()))}")
    print(f"answers by HTTP status: {dict(shift.answers)}")
    print(f"spot checks: {spot}")
    print(f"careless validator F1 {careless['f1']:.3f}, careful validators F1 "
          f"{[round(c['f1'], 3) for c in careful]}")
    for g in gates["gates"]:
        print(f"gate {g['name']:>16}: {g['state']:>8} ({g['detail']})")
    print(f"go/no-go: {gates['go_no_go']['verdict']}; "
          f"{[(g['name'], g['state']) for g in gates['go_no_go']['go'] + gates['go_no_go']['no_go']]}")
    print(f"figures: {gates['figures']}")
    print(f"elapsed {time.monotonic() - started:.1f} s")

    assert len(details) == sum(count for _, _, count in PHASES) == 300
    assert all(d["status"] in {"approved", "rejected", "flagged"} for d in details), "a submission stayed pending"
    for d in details:
        if d["id"] in rollback_ids:
            routing = next(t["verdict"] for t in d["trail"] if t["stage"] == "routing")
            assert routing["path"] == "layer_b" and routing["flags"]["PEER_VALIDATION_TRAFFIC_PCT"] == 0
            assert d["decided_by"] == "layer_b"
    assert by_phase["100 %"]["approved/peer"] + by_phase["100 %"]["rejected/peer"] > 0
    assert careless["f1"] < min(c["f1"] for c in careful)
