"""Faults under load: the local stack keeps every promise while its parts are killed, stopped and flooded.

Usage: python -m bench.chaos [--short] [--out-dir build/chaos]   (`make chaos`)

The stack runs as separate processes, as in AWS: a PostgreSQL server of its own (embedded, in a
scratch directory, so that it can be stopped without disturbing anything else), the HTTP server
(waitress around the Chalice app, ``local/wsgi.py``), one worker process (the local dispatcher: the
outbox as the queue, leased like an SQS visibility timeout, dead after OUTBOX_MAX_ATTEMPTS failures,
and the schedules at a faster tick) and the fake Anthropic API the tests use. A steady load runs all
along: authors submit over HTTP (retrying with the same ``Idempotency-Key`` whatever happens),
validators answer their evaluations over HTTP. Faults, in turn:

  server-kill      kill -9 of the HTTP server, restarted
  worker-kill      kill -9 of the worker while a batch is inside Layer B, restarted
  postgres-stop    PostgreSQL stopped (20 s; 3 s short) and restarted
  sqs-duplicates   every message delivered twice, shuffled, the copy late and out of order
  layer-b-outage   Anthropic answers 529, then times out (30 s + 60 s; 3 s + 5 s short)
  poison           a message no consumer can ever handle

After each: every submission accepted before the fault ended is terminal (within evaluation expiry
+ 2 min, EVALUATION_EXPIRY_S is short here), none is lost, no fee or reward is posted twice (one
journal entry per submission and per evaluation; one submission per client request), the ledger
verifies, the dead letters are exactly the poison message(s), and the alerts an operator must see
were raised by the alert engine. A table goes to stdout and build/chaos/chaos.md (JSON beside it).
Exit status 1 when any row fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local.dispatcher import Handler, LocalSender  # noqa: E402
from tests.fakes.anthropic_server import Delay, FakeAnthropic, HttpError  # noqa: E402

BODY = ("Volunteers will repair the village water pump and build a latrine block with handwashing stations: "
        "safe drinking water, sanitation and hygiene for 300 families. Budget, plan and survey data. #{n}")
TERMINAL = ("approved", "rejected", "flagged")
POISON = {"submission_id": "not-a-submission-id", "message_key": "chaos-poison"}


@dataclass(frozen=True)
class Profile:
    """Durations of one run: the full harness, or the short form that runs inside `make test`."""

    name: str
    warmup_s: float
    server_down_s: float
    postgres_down_s: float
    duplicates_s: float
    overloaded_s: float
    timeouts_s: float
    expiry_s: int  # EVALUATION_EXPIRY_S of the run
    grace_s: float  # every submission terminal within expiry + grace after the fault ends
    submit_rate: float  # submissions per second, all authors together


FULL = Profile("full", warmup_s=10, server_down_s=5, postgres_down_s=20, duplicates_s=30, overloaded_s=30,
               timeouts_s=60, expiry_s=30, grace_s=120, submit_rate=2)
SHORT = Profile("short", warmup_s=1, server_down_s=1, postgres_down_s=3, duplicates_s=4, overloaded_s=3,
                timeouts_s=3, expiry_s=15, grace_s=120, submit_rate=1.5)


def child_env(url: str, anthropic_url: str, profile: Profile, blob_dir: Path) -> dict[str, str]:
    """Settings of the stack's processes: short leases, retries, expiry and Layer B timeouts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DATABASE_"))}
    env.update({
        "DATABASE_URL": url, "STAGE": "local", "DISPATCH_MODE": "local", "EVIDENCE_STORE": "local",
        "BLOB_DIR": str(blob_dir), "TRUST_VERIFIED_MIN_AGE_DAYS": "0", "TRUST_VERIFIED_MIN_APPROVALS": "0",
        "VALIDATOR_DAILY_QUOTA": "1000000", "RATE_LIMIT_AGENT_PER_MIN": "100000",
        "DB_POOL_MAX_SIZE": "8", "DB_CONNECT_TIMEOUT_S": "2", "DB_API_ACQUIRE_TIMEOUT_S": "2",
        "ANTHROPIC_API_KEY": "sk-test-fake-key", "ANTHROPIC_BASE_URL": anthropic_url,
        "LAYER_B_TIMEOUT_S": "1.5", "LAYER_B_MAX_ATTEMPTS": "2",
        "EVALUATION_EXPIRY_S": str(profile.expiry_s),
        "OUTBOX_LEASE_S": "4", "OUTBOX_RETRY_BASE_S": "0.25", "OUTBOX_MAX_ATTEMPTS": "5",
        "POWERTOOLS_METRICS_NAMESPACE": "peerguard", "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONUNBUFFERED": "1",
    })
    return env


# --- the stack's processes (run as `python -m bench.chaos serve|work`) ---------------------------


def serve(port: int) -> int:
    """The HTTP server alone (the worker is its own process, as Lambda functions are)."""
    from chalice.cli.factory import CLIFactory

    from app import app
    from chalicelib.config import get_settings
    from local.wsgi import make_server

    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="local")
    settings = get_settings()
    server = make_server(app, config, "127.0.0.1", port,
                         max_body_bytes=max(settings.max_request_bytes, settings.evidence_max_bytes))
    server.run()
    return 0


class DuplicatingSender(LocalSender):
    """SQS at its worst, while `enabled` (SIGUSR1 toggles it in the worker): every message delivered
    twice, the batch shuffled, the copy late (0-2 s) and mixed into later batches, so consumers see
    duplicates and out-of-order messages concurrently. Disabled, it is the plain sender."""

    def __init__(self, handlers: dict[str, Handler], seed: int = 7) -> None:
        super().__init__(handlers)
        self._rng = random.Random(seed)
        self._late: list[tuple[float, Any]] = []
        self._lock = threading.Lock()
        self.enabled = False
        threading.Thread(target=self._drain, name="late-copies", daemon=True).start()

    def send(self, messages: Sequence[Any]) -> set[int]:
        if not self.enabled:
            return super().send(messages)
        order = list(messages)
        self._rng.shuffle(order)
        failed = super().send(order)
        with self._lock:
            self._late.extend((time.monotonic() + self._rng.uniform(0, 2), m) for m in order)
        return failed

    def _drain(self) -> None:
        while True:
            time.sleep(0.2)
            now = time.monotonic()
            with self._lock:
                due = [m for at, m in self._late if at <= now]
                self._late = [(at, m) for at, m in self._late if at > now]
            if due:
                self._rng.shuffle(due)
                with contextlib.suppress(Exception):  # a failed copy is one more redelivery: harmless
                    super().send(due)


def work(tick_s: float) -> int:
    """The worker: the outbox dispatcher (the queue consumers) and the schedules, minute jobs at `tick_s`.
    SIGUSR1 turns duplicate, out-of-order delivery on and off."""
    from chalicelib import bootstrap
    from chalicelib.entrypoints.schedules import JOBS
    from local.dispatcher import Dispatcher, Scheduler
    from local.handlers import local_handlers

    sender = DuplicatingSender(local_handlers())

    def toggle(*_: object) -> None:
        sender.enabled = not sender.enabled

    signal.signal(signal.SIGUSR1, toggle)
    bootstrap.install_sender(sender)
    jobs = [replace(job, every_seconds=max(1, int(tick_s))) if job.every_seconds <= 60 else job for job in JOBS]
    dispatcher = Dispatcher(sender)
    scheduler = Scheduler(jobs, first_delay_s=0.5)
    dispatcher.start()
    scheduler.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    dispatcher.stopped.set()
    scheduler.stopped.set()
    dispatcher.join(timeout=5)
    return 0


# --- the pieces the harness drives -------------------------------------------------------------


class FlakyAnthropic(FakeAnthropic):
    """The fake Anthropic API with a switchable mode: ok, slow (0.6 s a call), overloaded (529), timeout."""

    mode = "ok"
    in_flight = 0

    def _next_behaviour(self) -> Any:
        self.in_flight += 1
        if self.mode == "overloaded":
            return HttpError(529, retry_after=0.1)
        if self.mode == "timeout":
            return Delay(30.0)
        if self.mode == "slow":
            return Delay(0.6)
        return super()._next_behaviour()


class Postgres:
    """A PostgreSQL server of the run's own (pgserver's binaries), which the harness may stop."""

    def __init__(self, directory: Path) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pgserver

        self._server = pgserver.get_server(directory, cleanup_mode="delete")

    def url(self, database: str) -> str:
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user, timeout=30)

    def start(self) -> None:
        self._server.ensure_postgres_running()


class Process:
    """One process of the stack, restartable."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.args, self.env, self.log = name, args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, extra: Sequence[str] = ()) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.chaos", *self.args, *extra], cwd=ROOT,
                                     env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig`; SIGKILL and SIGTERM also wait for the process to end."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(timeout=15)


@dataclass
class Load:
    """Authors submitting and validators answering over HTTP, all the time, whatever fails."""

    base_url: str
    authors: list[str]
    validators: list[str]
    rate: float
    stop: threading.Event = field(default_factory=threading.Event)
    accepted: dict[str, tuple[str, float]] = field(default_factory=dict)  # title -> (submission id, time)
    answers: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._author, args=(i, key), daemon=True)
                   for i, key in enumerate(self.authors)]
        threads += [threading.Thread(target=self._validators, args=(self.validators[i::3],), daemon=True)
                    for i in range(3)]
        for t in threads:
            t.start()
        return threads

    def _count(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def _author(self, index: int, key: str) -> None:
        every = len(self.authors) / self.rate
        n = 0
        with httpx.Client(base_url=self.base_url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                title = f"chaos {index}-{n}"
                draft = {"kind": "solution", "title": title, "body": BODY.format(n=f"{index}-{n}"),
                         "domain": "clean_water_sanitation"}
                idempotency = str(uuid.uuid4())
                while not self.stop.is_set():  # the same request, the same key, until it is answered
                    try:
                        r = http.post("/v1/submissions", json=draft, headers={"Idempotency-Key": idempotency})
                    except httpx.HTTPError as exc:
                        self._count(type(exc).__name__)
                        time.sleep(0.3)
                        continue
                    if r.status_code == 201:
                        with self.lock:
                            self.accepted[title] = (r.json()["data"]["id"], time.time())
                        break
                    self._count(f"submit {r.status_code}")
                    if r.status_code < 500 and r.status_code != 429:
                        break
                    time.sleep(0.3)
                n += 1
                self.stop.wait(max(0.0, every - (time.monotonic() - started)))

    def _validators(self, keys: list[str]) -> None:
        clients = [httpx.Client(base_url=self.base_url, timeout=10, headers={"Authorization": f"Bearer {k}"})
                   for k in keys]
        rng = random.Random(len(keys))
        try:
            while not self.stop.is_set():
                answered = 0
                for http in clients:
                    try:
                        pending = http.get("/v1/evaluations/pending", params={"limit": 20})
                        if pending.status_code != 200:
                            self._count(f"pending {pending.status_code}")
                            continue
                        data = pending.json()["data"]
                        for item in data if isinstance(data, list) else data["items"]:
                            decision = "approve" if rng.random() < 0.85 else "reject"
                            r = http.post(f"/v1/evaluations/{item['id']}", json={
                                "decision": decision, "confidence": 0.9, "reasoning": "chaos load answer"})
                            if r.status_code == 200:
                                answered += 1
                            elif r.status_code not in (409, 410):
                                self._count(f"answer {r.status_code}")
                    except httpx.HTTPError as exc:  # the server is down: wait, as a real client would
                        self._count(type(exc).__name__)
                        self.stop.wait(0.3)
                        break
                with self.lock:
                    self.answers += answered
                if not answered:
                    self.stop.wait(0.3)
        finally:
            for c in clients:
                c.close()

    def accepted_before(self, moment: float) -> dict[str, str]:
        with self.lock:
            return {title: sid for title, (sid, at) in self.accepted.items() if at <= moment}


@dataclass
class Fault:
    name: str
    inject: Callable[[], str]  # blocks while the fault lasts; returns what was injected
    must_alert: tuple[str, ...] = ()


@dataclass
class Row:
    fault: str
    injected: str
    accepted: int = 0
    lost: int = 0
    stuck: int = 0
    double_charges: int = 0
    double_effects: int = 0
    ledger_ok: bool = False
    dlq: str = ""
    dlq_ok: bool = False
    alerts: list[str] = field(default_factory=list)
    alerts_ok: bool = False
    recovery_s: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # jobs and Layer B calls in the window (JSON only)

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.stuck == 0 and self.double_charges == 0 and self.double_effects == 0
                and self.ledger_ok
                and self.dlq_ok and self.alerts_ok)


class Harness:
    def __init__(self, profile: Profile, out_dir: Path, say: Callable[[str], None]) -> None:
        self.profile = profile
        self.out_dir = out_dir
        self.say = say
        self.poisoned: list[int] = []
        self.summary: dict[str, Any] = {}

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> None:
        scratch = ROOT / ".local" / f"chaos-{uuid.uuid4().hex[:6]}"
        scratch.mkdir(parents=True)
        self.scratch = scratch
        self.pg = Postgres(scratch / "pg")
        with psycopg.connect(self.pg.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE peerguard")
        self.url = self.pg.url("peerguard")
        from chalicelib.db.migrate import migrate

        migrate(self.url)
        self.anthropic = FlakyAnthropic()
        self.anthropic.start()
        env = child_env(self.url, self.anthropic.base_url, self.profile, scratch / "blobs")
        os.environ.update(env)
        from chalicelib import bootstrap
        from chalicelib.config import reset_settings

        reset_settings()
        bootstrap.reset()
        authors, validators = self._identities()
        port = _free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.server = Process("server", ["serve", "--port", str(port)], env, scratch / "server.log")
        self.worker = Process("worker", ["work", "--tick", "1"], env, scratch / "worker.log")
        self.server.start()
        self.worker.start()
        self._wait_healthy()
        self.load = Load(self.base_url, authors, validators, self.profile.submit_rate)

    def _identities(self) -> tuple[list[str], list[str]]:
        from chalicelib import bootstrap
        from chalicelib.db.pool import close_pool
        from chalicelib.services import agents, flags
        from chalicelib.services import validators as pool

        def key(name: str) -> str:
            reg = agents.register_agent(bootstrap.unit_of_work(), kind="agent", name=name, description="",
                                        caller=None)
            return str(reg.api_key)

        validators = [key(f"chaos-validator-{i}") for i in range(24)]
        pool.backfill(bootstrap.unit_of_work())
        authors = [key(f"chaos-author-{i}") for i in range(4)]  # after the backfill: not validators
        flags.set_flag(bootstrap.unit_of_work(), "PEER_VALIDATION_ENABLED", True, reason="chaos", force=True,
                       actor="chaos")
        flags.set_flag(bootstrap.unit_of_work(), "PEER_VALIDATION_TRAFFIC_PCT", 100, reason="chaos", force=True,
                       actor="chaos")
        close_pool()
        return authors, validators

    def _wait_healthy(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the server did not come up; see {self.server.log}")

    def teardown(self) -> None:
        if hasattr(self, "load"):
            self.load.stop.set()
        for p in (getattr(self, "server", None), getattr(self, "worker", None)):
            if p is not None:
                p.kill(signal.SIGTERM)
        if hasattr(self, "anthropic"):
            self.anthropic.stop()
        from chalicelib.db.pool import close_pool

        close_pool()
        if hasattr(self, "scratch"):
            import shutil

            self.out_dir.mkdir(parents=True, exist_ok=True)
            for log in ("server.log", "worker.log"):
                if (self.scratch / log).exists():
                    shutil.copy(self.scratch / log, self.out_dir / log)
            if hasattr(self, "pg"):
                with contextlib.suppress(Exception):
                    self.pg.stop()
            shutil.rmtree(self.scratch, ignore_errors=True)

    # -- faults --------------------------------------------------------------------------------

    def faults(self) -> list[Fault]:
        p = self.profile

        def server_kill() -> str:
            self.server.kill()
            time.sleep(p.server_down_s)
            self.server.start()
            self._wait_healthy()
            return f"kill -9 server, down {p.server_down_s:g} s"

        def worker_kill() -> str:
            self.anthropic.mode = "slow"
            seen = self.anthropic.in_flight
            deadline = time.monotonic() + 30
            while self.anthropic.in_flight == seen and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.1)  # inside the Layer B call of a guardrail batch
            self.worker.kill()
            self.anthropic.mode = "ok"
            time.sleep(1)
            self.worker.start()
            return "kill -9 worker inside a Layer B call"

        def postgres_stop() -> str:
            self.pg.stop()
            time.sleep(p.postgres_down_s)
            self.pg.start()
            return f"PostgreSQL stopped {p.postgres_down_s:g} s"

        def duplicates() -> str:
            self.worker.kill(signal.SIGUSR1)  # on
            time.sleep(p.duplicates_s)
            self.worker.kill(signal.SIGUSR1)  # off
            return f"every message twice, out of order, {p.duplicates_s:g} s"

        def layer_b_outage() -> str:
            since = datetime.now(UTC)
            self.anthropic.mode = "overloaded"
            time.sleep(p.overloaded_s)
            self.anthropic.mode = "timeout"
            time.sleep(p.timeouts_s)
            # A loaded machine may not have run the alert engine within a seconds-long outage: the
            # outage lasts until the engine has judged it (60 s at most), as a real one would.
            extra = time.monotonic()
            while time.monotonic() - extra < 60 and not self._db_retry(lambda conn: conn.execute(
                    "SELECT 1 FROM alerts WHERE rule = 'layer_b_errors' AND last_seen_at >= %s",
                    (since,)).fetchone()):
                time.sleep(0.5)
            self.anthropic.mode = "ok"
            longer = time.monotonic() - extra
            return (f"529 for {p.overloaded_s:g} s, then timeouts for {p.timeouts_s:g} s"
                    + (f" (+{longer:.0f} s until the engine ran)" if longer >= 1 else ""))

        def poison() -> str:
            with self._db() as conn:
                row = conn.execute("INSERT INTO outbox (topic, payload) VALUES ('guardrail', %s) RETURNING id",
                                   (json.dumps(POISON),)).fetchone()
            assert row is not None
            self.poisoned.append(int(row["id"]))
            return "a guardrail message no consumer can parse"

        return [
            Fault("server-kill", server_kill),
            Fault("worker-kill", worker_kill),
            Fault("postgres-stop", postgres_stop),
            Fault("sqs-duplicates", duplicates),
            Fault("layer-b-outage", layer_b_outage, must_alert=("layer_b_errors",)),
            Fault("poison", poison, must_alert=("dlq_growth",)),
        ]

    # -- checks --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _db(self) -> Any:
        with psycopg.connect(self.url, row_factory=dict_row, autocommit=True, connect_timeout=3) as conn:
            yield conn

    def _db_retry(self, fn: Callable[[Any], Any], timeout_s: float = 60) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self._db() as conn:
                    return fn(conn)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def run_fault(self, fault: Fault) -> Row:
        self.say(f"fault {fault.name}: load for {self.profile.warmup_s:g} s, then inject")
        self.load.stop.wait(self.profile.warmup_s)
        started_at = datetime.now(UTC)
        injected = fault.inject()
        ended = time.time()
        cohort = self.load.accepted_before(ended)
        deadline = ended + self.profile.expiry_s + self.profile.grace_s
        row = Row(fault.name, injected, accepted=len(cohort))

        def settled(conn: Any) -> tuple[int, int, bool]:
            ids = list(cohort.values())
            found = conn.execute("SELECT status FROM submissions WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()
            pending = sum(1 for r in found if r["status"] not in TERMINAL)
            dead = {int(r["id"]) for r in conn.execute("SELECT id FROM outbox WHERE dead_at IS NOT NULL")}
            # Recovered: the backlog is done and the stack decides new work end to end again.
            fresh = [sid for _, (sid, at) in list(self.load.accepted.items()) if at > ended]
            moving = bool(fresh) and conn.execute(
                "SELECT 1 FROM submissions WHERE id = ANY(%s::uuid[]) AND status <> 'pending' LIMIT 1",
                (fresh,)).fetchone() is not None
            return len(ids) - len(found), pending, set(self.poisoned) <= dead and moving

        while True:
            lost, pending, recovered = self._db_retry(settled)
            if (pending == 0 and recovered) or time.time() > deadline:
                break
            time.sleep(0.25)
        if pending == 0 and recovered:
            row.recovery_s = round(time.time() - ended, 1)
        row.lost, row.stuck = lost, pending
        # The alert engine runs every tick in the worker: give it two ticks after recovery.
        time.sleep(2.5)
        self._check(row, fault, started_at)
        self.say(f"  lost {row.lost}, stuck {row.stuck}, double charges {row.double_charges}, double effects "
                 f"{row.double_effects}, ledger ok {row.ledger_ok}, DLQ {row.dlq}, alerts {row.alerts}, "
                 f"recovery {row.recovery_s} s: {'pass' if row.ok else 'FAIL'}")
        return row

    def _check(self, row: Row, fault: Fault, started_at: datetime) -> None:
        def figures(conn: Any) -> dict[str, Any]:
            fees = conn.execute(
                "SELECT count(*) AS n FROM (SELECT memo->>'submission_id' FROM journal_entries"
                " WHERE kind IN ('submission_fee', 'hardship_waiver') GROUP BY 1 HAVING count(*) > 1) d").fetchone()
            rewards = conn.execute(
                "SELECT count(*) AS n FROM (SELECT memo->>'evaluation_id' FROM journal_entries"
                " WHERE kind = 'validation_reward' GROUP BY 1 HAVING count(*) > 1) d").fetchone()
            twice = conn.execute(
                "SELECT count(*) AS n FROM (SELECT title FROM submissions GROUP BY agent_id, title"
                " HAVING count(*) > 1) d").fetchone()
            # A stage applied twice leaves its trail entry twice (Layer B, routing, assignment, consensus).
            effects = conn.execute(
                "SELECT count(*) AS n FROM (SELECT submission_id, stage FROM decision_trail"
                " WHERE stage IN ('layer_a', 'layer_b', 'routing', 'assignment', 'consensus')"
                " GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()
            dead = conn.execute(
                "SELECT id, topic, payload FROM outbox WHERE dead_at IS NOT NULL ORDER BY id").fetchall()
            alerts = conn.execute("SELECT DISTINCT rule FROM alerts WHERE last_seen_at >= %s ORDER BY rule",
                                  (started_at,)).fetchall()
            jobs = conn.execute(
                "SELECT job, count(*) AS runs, count(*) FILTER (WHERE ok IS FALSE) AS failed,"
                " count(*) FILTER (WHERE ok IS NULL) AS unfinished, max(duration_ms) AS max_ms FROM job_runs"
                " WHERE started_at >= %s GROUP BY job ORDER BY job", (started_at,)).fetchall()
            calls = conn.execute(
                "SELECT count(*) AS calls, count(*) FILTER (WHERE error IS NOT NULL) AS errors FROM layer_b_calls"
                " WHERE created_at >= %s AND outcome = 'called'", (started_at,)).fetchone()
            notes = {"jobs": {j["job"]: {k: j[k] for k in ("runs", "failed", "unfinished", "max_ms")} for j in jobs},
                     "layer_b_calls": dict(calls)}
            return {"double": int(fees["n"]) + int(rewards["n"]) + int(twice["n"]), "effects": int(effects["n"]),
                    "notes": notes,
                    "dead": dead, "alerts": [a["rule"] for a in alerts]}

        got = self._db_retry(figures)
        row.double_charges = got["double"]
        row.double_effects = got["effects"]
        row.notes = got["notes"]
        dead_ids = [int(d["id"]) for d in got["dead"]]
        row.dlq_ok = dead_ids == self.poisoned
        row.dlq = (f"{len(dead_ids)} (poison)" if row.dlq_ok and dead_ids else str(len(dead_ids))) + (
            "" if row.dlq_ok else " unexpected: " + ", ".join(f"{d['topic']}#{d['id']}" for d in got["dead"]))
        row.alerts = got["alerts"]
        row.alerts_ok = set(fault.must_alert) <= set(row.alerts)
        row.ledger_ok = self._verify_ledger()

    def _verify_ledger(self) -> bool:
        from chalicelib import bootstrap
        from chalicelib.db.pool import close_pool
        from chalicelib.services.credits import verify_ledger

        try:
            report = verify_ledger(bootstrap.unit_of_work())
        finally:
            close_pool()
        return not report["mismatches"]

    # -- the run -------------------------------------------------------------------------------

    def run(self, only: Sequence[str] = ()) -> list[Row]:
        self.setup()
        rows: list[Row] = []
        try:
            self.load.start()
            self._wait_flowing()
            for fault in self.faults():
                if not only or fault.name in only:
                    rows.append(self.run_fault(fault))
            self.summary = self._drain()
        finally:
            self.teardown()
        return rows

    def _wait_flowing(self, timeout_s: float = 120) -> None:
        """Faults start once the stack decides submissions end to end (first imports, first batches)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ids = [sid for sid, _ in list(self.load.accepted.values())]

            def decided(conn: Any, ids: list[str] = ids) -> int:
                return int(conn.execute("SELECT count(*) AS n FROM submissions WHERE id = ANY(%s::uuid[])"
                                        " AND decided_by = 'peer'", (ids,)).fetchone()["n"])

            if ids and self._db_retry(decided) >= 3:
                return
            time.sleep(0.5)
        raise RuntimeError("the stack never decided a submission through its peers")

    def _drain(self) -> dict[str, Any]:
        """Stop the load, wait for the last submissions; what the run did, for the report."""
        self.load.stop.set()
        ids = [sid for sid, _ in list(self.load.accepted.values())]
        deadline = time.time() + self.profile.expiry_s + self.profile.grace_s

        def figures(conn: Any) -> dict[str, Any]:
            paths = conn.execute("SELECT status, coalesce(decided_by, '-') AS by, count(*) AS n FROM submissions"
                                 " WHERE id = ANY(%s::uuid[]) GROUP BY 1, 2 ORDER BY 1, 2", (ids,)).fetchall()
            return {f"{r['status']}/{r['by']}": int(r["n"]) for r in paths}

        by_path = self._db_retry(figures)
        while any(k.startswith("pending") for k in by_path) and time.time() < deadline:
            time.sleep(0.5)
            by_path = self._db_retry(figures)
        server_errors = {k: v for k, v in self.load.errors.items() if k.endswith(("500", "502", "504"))}
        return {"submissions": len(ids), "answers": self.load.answers, "by_status_and_path": by_path,
                "client_errors": dict(sorted(self.load.errors.items())), "server_errors": server_errors}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def table(rows: Sequence[Row]) -> str:
    lines = ["| fault | injected | accepted | lost | stuck | double charges | double effects | ledger ok | DLQ "
             "| alerts | recovery | pass |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        recovery = "never" if r.recovery_s is None else f"{r.recovery_s:.1f} s"
        lines.append(f"| {r.fault} | {r.injected} | {r.accepted} | {r.lost} | {r.stuck} | {r.double_charges} "
                     f"| {r.double_effects} "
                     f"| {'yes' if r.ledger_ok else 'NO'} | {r.dlq} | {', '.join(r.alerts) or '-'} | {recovery} "
                     f"| {'yes' if r.ok else 'NO'} |")
    return "\n".join(lines) + "\n"


def run(profile: Profile, out_dir: Path, only: Sequence[str] = (),
        say: Callable[[str], None] = lambda line: None) -> tuple[list[Row], dict[str, Any]]:
    """Every fault (or `only` these) in turn; the rows and what the whole run did."""
    harness = Harness(profile, out_dir, say)
    rows = harness.run(only)
    return rows, harness.summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    w = sub.add_parser("work")
    w.add_argument("--tick", type=float, default=1.0)
    parser.add_argument("--short", action="store_true", help="the short form (seconds-long faults)")
    parser.add_argument("--only", nargs="*", default=[], help="run only these faults")
    parser.add_argument("--out-dir", default="build/chaos")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port)
    if args.command == "work":
        return work(args.tick)

    def say(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    profile = SHORT if args.short else FULL
    started = time.monotonic()
    rows, summary = run(profile, Path(args.out_dir), args.only, say)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = (f"# Chaos run ({profile.name}), {datetime.now(UTC).isoformat(timespec='seconds')}, "
            f"{time.monotonic() - started:.0f} s\n\n" + table(rows) + "\n" + summary_text(summary))
    (out / "chaos.md").write_text(text)
    (out / "chaos.json").write_text(json.dumps({"rows": [r.__dict__ for r in rows], "summary": summary},
                                               indent=2, default=str))
    sys.stdout.write(text)
    return 0 if passed(rows, summary) else 1


def passed(rows: Sequence[Row], summary: dict[str, Any]) -> bool:
    """Every row passed, nothing pending at the end, and no request answered 500 (a fault is a 503)."""
    pending = sum(n for k, n in summary["by_status_and_path"].items() if k.startswith("pending"))
    return bool(rows) and all(r.ok for r in rows) and pending == 0 and not summary["server_errors"]


def summary_text(summary: dict[str, Any]) -> str:
    paths = ", ".join(f"{k} {v}" for k, v in summary["by_status_and_path"].items())
    errors = ", ".join(f"{k} {v}" for k, v in summary["client_errors"].items()) or "none"
    return (f"Load: {summary['submissions']} submissions accepted, {summary['answers']} evaluations answered. "
            f"Outcomes (status/decided by): {paths}. Client-side errors while faults lasted (retried): {errors}.\n")


if __name__ == "__main__":
    sys.exit(main())
