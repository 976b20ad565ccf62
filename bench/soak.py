"""Soak: the local stack under steady load for a long time; every resource sampled every minute.

Usage: python -m bench.soak [--duration 3600] [--rate 50] [--peer-pct 10] [--validators 20]
       [--sample 60] [--out-dir bench/results/soak]

In a database of its own (``peerguard_soak`` on the configured server, embedded by default), the
local stack runs as `make run` runs it, in its own process: the HTTP server, the outbox dispatcher
(the stand-in for SQS) and the scheduler with every scheduled job; beside it, consumer processes
run more dispatchers, as Lambda runs consumers in processes of their own. This process plays the world:
authors POST /v1/submissions at ``--rate`` per second, and a scripted pool of validator agents polls
GET /v1/evaluations/pending and answers through POST /v1/evaluations/{id}, so the peer path runs
end to end (``--peer-pct`` of the traffic is routed to peers, the rest is decided by Layer B).

Every ``--sample`` seconds it records: RSS of every process (the server, each PostgreSQL backend of
the soak database, this load generator), database connections, outbox depth (unsent messages),
submissions still pending, requests sent and failed, and HTTP latency (submit and answer p50/p95)
with the decision latency (submission to decision). A line is "growing" when the median of the last
third of the samples (after the first, warm-up, sample) exceeds the median of the first third by more
than its tolerance (RSS: 5 % and 16 MB; depths: 50 % and 100 items; connections: 3; latency p95:
100 % and 50 ms); any growing line fails the run (exit 1). JSON and markdown go to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "peerguard_soak"
BODIES = (
    ("clean_water_sanitation", "Volunteers will repair the village water pump and build a latrine block with "
     "handwashing stations: safe drinking water, sanitation and hygiene for 300 families. Survey data #{n}."),
    ("education_access", "Weekend tutoring in reading and mathematics for 40 children in the district library, "
     "run by trained volunteers with donated books and a simple attendance register. Cohort #{n}."),
    ("food_security", "A community garden on unused council land grows vegetables for the food bank; "
     "volunteers keep a harvest log and share seeds with neighbouring schools. Plot #{n}."),
)
SERVER_ENV = {
    "STAGE": "local", "DISPATCH_MODE": "local", "TRUST_VERIFIED_MIN_AGE_DAYS": "0",
    "TRUST_VERIFIED_MIN_APPROVALS": "0", "VALIDATOR_DAILY_QUOTA": "1000000", "DB_POOL_MAX_SIZE": "10",
    "RATE_LIMIT_AGENT_PER_MIN": "1000000", "RATE_LIMIT_ADMIN_PER_MIN": "1000000",
    "POWERTOOLS_METRICS_NAMESPACE": "peerguard", "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1",
}
# name -> (relative tolerance, absolute tolerance) of the last third over the first third.
TOLERANCES: dict[str, tuple[float, float]] = {
    "server_rss_mb": (0.05, 16.0),
    "consumers_rss_mb": (0.05, 16.0),
    "postgres_private_mb": (0.05, 32.0),
    "db_connections": (0.0, 3.0),
    "outbox_depth": (0.5, 100.0),
    "pending_submissions": (0.5, 100.0),
    "submit_p95_ms": (1.0, 50.0),
    "answer_p95_ms": (1.0, 50.0),
}


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def private_mb(pid: int) -> float | None:
    """Anonymous (private) resident memory: what a leak grows, without the shared buffers a backend touches."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))], 1)


class Client:
    """One keep-alive HTTP connection; reconnects after any transport error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Window:
    """What the load generator saw since the last sample."""

    submit_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    pending_ms: list[float] = field(default_factory=list)
    submitted: int = 0
    answered: int = 0
    late: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Load:
    def __init__(self, port: int, authors: list[str], validators: list[str], *, rate: float, workers: int,
                 validator_threads: int) -> None:
        self.port, self.authors, self.validators, self.rate = port, authors, validators, rate
        self.stop = threading.Event()
        self.tickets: queue.Queue[int] = queue.Queue(maxsize=int(rate * 10) + 10)
        self.lock = threading.Lock()
        self.window = Window()
        self.behind = 0  # tickets dropped because every worker was busy (the server fell behind)
        self.threads = [threading.Thread(target=self._pace, daemon=True, name="pace")]
        self.threads += [threading.Thread(target=self._submit, daemon=True, name=f"submit-{i}")
                         for i in range(workers)]
        self.threads += [threading.Thread(target=self._validate, args=(validators[i::validator_threads],),
                                          daemon=True, name=f"validate-{i}") for i in range(validator_threads)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def take(self) -> Window:
        with self.lock:
            window, self.window = self.window, Window()
        return window

    def _error(self, what: str) -> None:
        with self.lock:
            self.window.errors[what] = self.window.errors.get(what, 0) + 1

    def _pace(self) -> None:
        started, n = time.monotonic(), 0
        while not self.stop.is_set():
            delay = started + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                self.tickets.put_nowait(n)
            except queue.Full:
                with self.lock:
                    self.behind += 1
            n += 1

    def _submit(self) -> None:
        client = Client(self.port)
        while not self.stop.is_set():
            try:
                n = self.tickets.get(timeout=0.5)
            except queue.Empty:
                continue
            domain, text = BODIES[n % len(BODIES)]
            body = {"kind": "solution", "title": f"Soak proposal {n}: {domain.replace('_', ' ')}",
                    "body": text.format(n=n), "domain": domain}
            t0 = time.perf_counter()
            try:
                status, _ = client.call("POST", "/v1/submissions", self.authors[n % len(self.authors)], body)
            except (OSError, http.client.HTTPException):
                self._error("submit transport")
                continue
            ms = (time.perf_counter() - t0) * 1000
            with self.lock:
                if status == 201:
                    self.window.submitted += 1
                    self.window.submit_ms.append(ms)
                else:
                    self.window.errors[f"submit {status}"] = self.window.errors.get(f"submit {status}", 0) + 1

    def _validate(self, keys: list[str]) -> None:
        client = Client(self.port)
        while not self.stop.is_set():
            answered = 0
            for key in keys:
                t0 = time.perf_counter()
                try:
                    status, page = client.call("GET", "/v1/evaluations/pending?limit=50", key)
                except (OSError, http.client.HTTPException):
                    self._error("pending transport")
                    continue
                with self.lock:
                    self.window.pending_ms.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    self._error(f"pending {status}")
                    continue
                for item in page["data"]:
                    t0 = time.perf_counter()
                    try:
                        status, _ = client.call("POST", f"/v1/evaluations/{item['id']}", key, {
                            "decision": "approve", "confidence": 0.9, "reasoning": "clear, local, and feasible"})
                    except (OSError, http.client.HTTPException):
                        self._error("answer transport")
                        continue
                    ms = (time.perf_counter() - t0) * 1000
                    with self.lock:
                        if status == 200:
                            self.window.answered += 1
                            self.window.answer_ms.append(ms)
                        elif status == 410:  # consensus reached without this answer: routine
                            self.window.late += 1
                        else:
                            self.window.errors[f"answer {status}"] = self.window.errors.get(f"answer {status}", 0) + 1
                    answered += 1
            if answered == 0:
                self.stop.wait(0.2)


def db_sample(url: str, since: datetime) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        pids = [r["pid"] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (DB_NAME,))]
        row = conn.execute(
            "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL) AS outbox_depth,"
            " (SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL) AS outbox_dead,"
            " (SELECT count(*) FROM submissions WHERE status = 'pending') AS pending_submissions,"
            " (SELECT count(*) FROM submissions) AS submissions_total,"
            " (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))"
            "    FROM submissions WHERE decided_at >= %s) AS decision_p95_s,"
            " (SELECT count(*) FROM submissions WHERE decided_at >= %s AND decided_by = 'peer') AS peer_decided,"
            " pg_database_size(current_database()) AS db_bytes", (since, since)).fetchone()
    assert row is not None
    pg_rss = [r for r in (private_mb(p) for p in pids) if r is not None]
    return {
        "db_connections": len(pids),
        "postgres_private_mb": round(sum(pg_rss), 1),
        "postgres_backend_private_mb": sorted(pg_rss, reverse=True),
        "outbox_depth": int(row["outbox_depth"]),
        "outbox_dead": int(row["outbox_dead"]),
        "pending_submissions": int(row["pending_submissions"]),
        "submissions_total": int(row["submissions_total"]),
        "decision_p95_s": round(float(row["decision_p95_s"]), 2) if row["decision_p95_s"] is not None else None,
        "peer_decided": int(row["peer_decided"]),
        "db_mb": round(int(row["db_bytes"]) / 2**20, 1),
    }


def growing(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Lines whose last third (after the warm-up sample) sits above their first third beyond tolerance.

    Medians of the thirds, so one slow minute on a shared machine is not a trend.
    """
    body = samples[1:] if len(samples) > 3 else samples
    third = max(1, len(body) // 3)
    verdicts: dict[str, dict[str, Any]] = {}
    for name, (rel, absolute) in TOLERANCES.items():
        first = [s[name] for s in body[:third] if s.get(name) is not None]
        last = [s[name] for s in body[-third:] if s.get(name) is not None]
        if not first or not last:
            continue
        a, b = statistics.median(first), statistics.median(last)
        limit = a + max(abs(a) * rel, absolute)
        verdicts[name] = {"first_third": round(a, 1), "last_third": round(b, 1), "limit": round(limit, 1),
                          "growing": b > limit}
    return verdicts


def setup(url: str, n_authors: int, n_validators: int, peer_pct: int) -> tuple[list[str], list[str]]:
    """Identities and flags, through the use cases, before the server starts."""
    os.environ.update({**SERVER_ENV, "DATABASE_URL": url})
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings
    from chalicelib.db.migrate import migrate

    reset_settings()
    bootstrap.reset()
    migrate(url)
    from chalicelib.adapters import flags_repo
    from chalicelib.db.pool import close_pool, transaction
    from chalicelib.services import agents
    from chalicelib.services.validators import backfill

    def register(name: str) -> str:
        return agents.register_agent(bootstrap.unit_of_work(), kind="agent", name=name, description="",
                                     caller=None).api_key

    validators = [register(f"soak-validator-{i}") for i in range(n_validators)]
    backfill(bootstrap.unit_of_work())
    authors = [register(f"soak-author-{i}") for i in range(n_authors)]  # after the backfill: not validators
    with transaction() as conn:
        flags_repo.set_flag(conn, "PEER_VALIDATION_ENABLED", peer_pct > 0, actor="soak", reason="soak")
        flags_repo.set_flag(conn, "PEER_VALIDATION_TRAFFIC_PCT", peer_pct, actor="soak", reason="soak", forced=True)
    close_pool()
    return authors, validators


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not come up")


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        "# Soak", "",
        f"{meta['started']} to {meta['ended']}, {meta['duration_s']} s at {meta['rate']} submissions/s, "
        f"{meta['peer_pct']} % peer traffic, {meta['validators']} validators answering over HTTP, "
        f"{meta['cpus']} CPUs (shared, loaded). Server: `python -m local serve` (HTTP + scheduler + "
        f"{meta.get('consumers', '?')} dispatcher thread(s)), plus {meta.get('consumer_processes', '?')} consumer "
        f"processes of {meta.get('consumer_threads', '?')} dispatcher threads.", "",
        "| min | sent/s | answered/s | submit p50/p95 ms | answer p95 ms | decision p95 s | server RSS MB "
        "| server CPU % | consumers RSS MB | consumers CPU % | PG private MB | conns | outbox | pending | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result["samples"]:
        errors = ", ".join(f"{k}: {v}" for k, v in s["errors"].items()) or "-"
        lines.append(
            f"| {s['minute']} | {s['submitted_per_s']} | {s['answered_per_s']} "
            f"| {s['submit_p50_ms']}/{s['submit_p95_ms']} "
            f"| {s['answer_p95_ms']} | {s['decision_p95_s']} | {s['server_rss_mb']} | {s['server_cpu_pct']} "
            f"| {s['consumers_rss_mb']} | {s['consumers_cpu_pct']} "
            f"| {s['postgres_private_mb']} "
            f"| {s['db_connections']} | {s['outbox_depth']} | {s['pending_submissions']} | {errors} |")
    lines += ["", "| line | first third | last third | limit | verdict |", "|---|---|---|---|---|"]
    for name, v in result["trend"].items():
        lines.append(f"| {name} | {v['first_third']} | {v['last_third']} | {v['limit']} "
                     f"| {'GROWING' if v['growing'] else 'flat'} |")
    lines += ["", f"Verdict: **{'flat' if result['flat'] else 'growing'}**; submissions sent "
              f"{result['totals']['submitted']}, answers {result['totals']['answered']}, dropped by the pacer "
              f"(server behind) {result['totals']['behind']}.", ""]
    return "\n".join(lines)


def consume(threads: int) -> int:
    """A consumer process (``python -m bench.soak --consume N``): N dispatcher threads until SIGTERM.

    Lambda runs each consumer in its own process; so does the soak, so that the consumers do not
    share the HTTP server's interpreter lock.
    """
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings
    from chalicelib.db.pool import close_pool
    from local.dispatcher import Dispatcher, LocalSender
    from local.handlers import local_handlers

    reset_settings()
    sender = LocalSender(local_handlers())
    bootstrap.install_sender(sender)
    dispatchers = [Dispatcher(sender) for _ in range(threads)]
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    for d in dispatchers:
        d.start()
    done.wait()
    for d in dispatchers:
        d.stopped.set()
    for d in dispatchers:
        d.join(timeout=10)
    close_pool()
    return 0


class _Stopped(Exception):
    """SIGTERM to the soak: stop the load, write the report of what was sampled."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3600, help="seconds of load")
    parser.add_argument("--rate", type=float, default=50, help="submissions per second")
    parser.add_argument("--peer-pct", type=int, default=10, help="share of the traffic routed to peers")
    parser.add_argument("--validators", type=int, default=20)
    parser.add_argument("--authors", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8, help="submitting threads (one connection each)")
    parser.add_argument("--validator-threads", type=int, default=4, help="answering threads (one connection each)")
    parser.add_argument("--sample", type=float, default=60, help="seconds between samples")
    parser.add_argument("--consumers", type=int, default=1, help="the server's own outbox dispatcher threads")
    parser.add_argument("--consumer-processes", type=int, default=2,
                        help="consumer processes beside the server (as Lambda runs them)")
    parser.add_argument("--consumer-threads", type=int, default=2, help="dispatcher threads per consumer process")
    parser.add_argument("--consume", type=int, help=argparse.SUPPRESS)  # internal: run as a consumer process
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--out-dir", default="bench/results/soak")
    args = parser.parse_args(argv)
    if args.consume:
        return consume(args.consume)

    from local import database

    url = database.create_scratch_database(DB_NAME)
    authors, validators = setup(url, args.authors, args.validators, args.peer_pct)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples.jsonl").unlink(missing_ok=True)
    log = (out / "server.log").open("wb")
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": url}
    server = subprocess.Popen([sys.executable, "-m", "local", "serve", "--no-seed", "--port", str(args.port),
                               "--consumers", str(args.consumers)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    consumers = [subprocess.Popen([sys.executable, "-m", "bench.soak", "--consume", str(args.consumer_threads)],
                                  cwd=ROOT, env={**env, "DB_POOL_MAX_SIZE": str(args.consumer_threads + 1)},
                                  stdout=log, stderr=subprocess.STDOUT) for _ in range(args.consumer_processes)]
    processes = {"server": server, **{f"consumer-{i}": c for i, c in enumerate(consumers)}}
    signal.signal(signal.SIGTERM, _stop)
    samples: list[dict[str, Any]] = []
    totals = {"submitted": 0, "answered": 0, "behind": 0}
    started = datetime.now(UTC)
    result: dict[str, Any] = {}
    try:
        wait_ready(args.port, server)
        # The scheduled backfill enrols the authors too (verified at once here): every agent answers.
        load = Load(args.port, authors, validators + authors, rate=args.rate, workers=args.workers,
                    validator_threads=args.validator_threads)
        load.start()
        t0 = time.monotonic()
        last = datetime.now(UTC)
        cpu_last = {name: cpu_seconds(p.pid) or 0.0 for name, p in processes.items()}
        minute = 0
        while time.monotonic() - t0 < args.duration:
            time.sleep(max(0.0, t0 + (minute + 1) * args.sample - time.monotonic()))
            minute += 1
            for name, p in processes.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode}")
            window = load.take()
            now = datetime.now(UTC)
            seconds = (now - last).total_seconds()
            cpu_now = {name: cpu_seconds(p.pid) or cpu_last[name] for name, p in processes.items()}
            cpu_pct = {name: round(100 * (cpu_now[name] - cpu_last[name]) / seconds, 1) for name in processes}
            sample = {
                "minute": minute, "at": now.isoformat(timespec="seconds"),
                "submitted_per_s": round(window.submitted / seconds, 1),
                "answered_per_s": round(window.answered / seconds, 1),
                "submit_p50_ms": percentile(window.submit_ms, 50), "submit_p95_ms": percentile(window.submit_ms, 95),
                "answer_p95_ms": percentile(window.answer_ms, 95),
                "pending_get_p95_ms": percentile(window.pending_ms, 95), "late_answers": window.late,
                "errors": window.errors,
                "server_rss_mb": rss_mb(server.pid), "server_private_mb": private_mb(server.pid),
                "server_cpu_pct": cpu_pct["server"],
                "consumers_rss_mb": round(sum(rss_mb(c.pid) or 0.0 for c in consumers), 1),
                "consumers_cpu_pct": round(sum(v for k, v in cpu_pct.items() if k != "server"), 1),
                "rss_mb": {name: rss_mb(p.pid) for name, p in processes.items()},
                "loadgen_rss_mb": rss_mb(os.getpid()),
                **db_sample(url, last),
            }
            last, cpu_last = now, cpu_now
            totals["submitted"] += window.submitted
            totals["answered"] += window.answered
            samples.append(sample)
            sys.stdout.write(json.dumps(sample) + "\n")
            sys.stdout.flush()
            with (out / "samples.jsonl").open("a") as jsonl:
                jsonl.write(json.dumps(sample) + "\n")
        load.stop.set()
        totals["behind"] = load.behind
    except _Stopped:
        sys.stdout.write("stopped early: reporting the samples taken\n")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for p in processes.values():
            p.send_signal(signal.SIGTERM)
        for p in processes.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
    trend = growing(samples)
    result = {
        "meta": {"started": started.isoformat(timespec="seconds"),
                 "ended": datetime.now(UTC).isoformat(timespec="seconds"), "duration_s": args.duration,
                 "rate": args.rate, "peer_pct": args.peer_pct, "validators": args.validators,
                 "authors": args.authors, "cpus": os.cpu_count(), "run_id": uuid.uuid4().hex[:8],
                 "consumers": args.consumers, "consumer_processes": args.consumer_processes,
                 "consumer_threads": args.consumer_threads},
        "samples": samples, "trend": trend, "totals": totals,
        "flat": not any(v["growing"] for v in trend.values()),
    }
    (out / "soak.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "soak.md").write_text(markdown(result))
    sys.stdout.write(markdown(result))
    return 0 if result["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
