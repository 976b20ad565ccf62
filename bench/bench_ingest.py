"""Ingestion: submissions through the real use case beside pgbench TPC-B, on the same server, in the same run.

Usage: python bench/bench_ingest.py [--seconds 4] [--rounds 2] [--workers 1,8,32] [--agents 64]
       [--variants one_sink,after] [--http] [--http-seconds 6] [--http-concurrency 4,16,64,256]
       [--out-dir build/bench]

Each submission is `submit_content` exactly as the API calls it: Layer A on title and body, the
submission row, its decision trail, the fee through the ledger (SUBMISSION_COSTS_ENABLED on, agents
funded well above the hardship line, so every submission pays), the guardrail outbox message and an
Idempotency-Key, in one transaction committed with the server's fsync/synchronous_commit. Worker
threads each hold their own pooled connection (the pool is sized above the worker count), as a
Lambda instance holds its own; each worker submits for its own agents (the agents' accounts never
contend; the fees go to the sink's 16 accounts, one picked by each fee's key, as in production).

Variants, side by side in every round (--variants; default one_sink,after):
- before: the statement sequence of the use case before the round trips were cut (kept here, built
  from the same repository calls, to measure the difference in the same run);
- one_sink: the use case as it is with every fee credited to the one sink of old (`system:sink`), the
  single row every fee updated before the sink was split;
- after: the use case as it is (`chalicelib.services.submissions.submit_content`).

pgbench runs the built-in TPC-B script (-s 1, as bench/bench_ledger.py) in a scratch database of the
same server with -c equal to the worker count, just before each variant of the round; the ratio is the
median over rounds of (submissions/s / pgbench tps of that round).

Where the time goes, measured per variant at 8 workers (or the largest count below 8):
- statements per submission (every `execute` the pool's connections run, counted client-side) and
  transactions per submission (pg_stat_database xact_commit + xact_rollback); round trips are
  statements + 2 per transaction (psycopg sends BEGIN and COMMIT as their own round trips);
- server CPU per submission: the CPU time of the PostgreSQL server's processes (postmaster, backends,
  background writers; /proc, the exited ones through the postmaster's children times) over the run;
- client CPU per submission: this process's CPU time (all threads) over the run.

With --http: the local server (`python -m local serve`, waitress + the Chalice app) on the same
database, driven by an asyncio httpx client at each concurrency: POST /v1/submissions with a bearer
key and an Idempotency-Key, requests/s, p50/p95/p99 and the status codes (what it holds, where it
breaks: timeouts, 503s).

Results go to build/bench/ingest.json and ingest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from local import database

ROOT = Path(__file__).resolve().parents[1]
PGBENCH = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / (
    "site-packages/pgserver/pginstall/bin/pgbench")
FUNDS = 10**12  # millicredits per agent: never near the hardship line, never short
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TITLE = "Water pump repair {n}"
BODY = ("Volunteers will repair the village water pump and build a latrine block with handwashing stations: "
        "safe drinking water, sanitation and hygiene for 300 families. Budget, plan and survey data. #{n}")


@dataclass
class Run:
    variant: str  # before | after | pgbench
    workers: int
    seconds: float
    count: int
    errors: int
    tps: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    round: int = 0
    server_cpu_ms: float | None = None  # per submission (per transaction for pgbench)
    client_cpu_ms: float | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)


def configure(url: str, pool_size: int) -> None:
    os.environ.update({
        "DATABASE_URL": url, "DISPATCH_MODE": "local", "DB_POOL_MAX_SIZE": str(pool_size),
        "DB_POOL_MIN_SIZE": "1", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_NAMESPACE": "peerguard",
    })
    os.environ.pop("ANTHROPIC_API_KEY", None)
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings

    reset_settings()
    bootstrap.reset()


# --- measuring ----------------------------------------------------------------------------------

class StatementCounter:
    """Counts every statement the pool's connections execute (TimedCursor is their cursor class)."""

    def __init__(self) -> None:
        self.count = 0
        self.texts: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        from chalicelib.db import timing

        original = timing.TimedCursor.execute
        counter = self

        def execute(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            text = timing._text(query)[:60]
            with counter._lock:
                counter.count += 1
                counter.texts[text] = counter.texts.get(text, 0) + 1
            return original(cursor, query, params, **kwargs)

        timing.TimedCursor.execute = execute  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            timing.TimedCursor.execute = original  # type: ignore[method-assign]


def _proc_ticks(pid: int, *, children: bool = False) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[11], [12] = utime, stime; [13], [14] = cutime, cstime (children waited for)
    ticks = int(fields[11]) + int(fields[12])
    return ticks + (int(fields[13]) + int(fields[14]) if children else 0)


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


class ServerCpu:
    """CPU seconds of the whole PostgreSQL server (same machine): postmaster + live children + exited ones."""

    def __init__(self, url: str) -> None:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        self.postmaster = _ppid(int(row[0]))

    def seconds(self) -> float:
        ticks = _proc_ticks(self.postmaster, children=True)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if _ppid(int(entry.name)) == self.postmaster:
                        ticks += _proc_ticks(int(entry.name))
        return ticks / CLOCK_TICKS


def xacts(url: str) -> int:
    """Transactions committed or rolled back in the database so far (one more: this read's own)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database"
                           " WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])


def percentiles(latencies: list[float]) -> tuple[float | None, float | None, float | None]:
    if not latencies:
        return None, None, None
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return round(statistics.median(ordered) * 1000, 2), at(0.95), at(0.99)


# --- set-up -------------------------------------------------------------------------------------

def seed(n_agents: int) -> tuple[list[Any], list[str]]:
    """Agents (principals), each funded by the faucet; submission fees on."""
    from chalicelib import bootstrap
    from chalicelib.adapters import flags_repo
    from chalicelib.db.pool import transaction
    from chalicelib.domain.ledger import FAUCET, agent_account, transfer
    from chalicelib.services import agents

    principals, keys = [], []
    for i in range(n_agents):
        reg = agents.register_agent(bootstrap.unit_of_work(), kind="agent", name=f"bench-author-{i}",
                                    description="", caller=None)
        principal = agents.authenticate(bootstrap.unit_of_work(), f"Bearer {reg.api_key}")
        principals.append(principal)
        keys.append(reg.api_key)
        with bootstrap.unit_of_work() as uow:
            uow.ledger.post_entry(idempotency_key=f"bench:funding:{i}", kind="bench_grant",
                                  legs=transfer(FAUCET, agent_account(principal.agent_id), FUNDS))
    with transaction() as conn:
        flags_repo.set_flag(conn, "SUBMISSION_COSTS_ENABLED", True, actor="bench", reason="bench")
        conn.execute("ANALYZE")
    flags_repo.invalidate()
    return principals, keys


# --- the variants -------------------------------------------------------------------------------

Submit = Callable[[Any, Any, Any, str], Any]


def submit_after(uow: Any, principal: Any, draft: Any, key: str) -> Any:
    from chalicelib.services.submissions import submit_content

    return submit_content(uow, principal, draft, idempotency_key=key)


def submit_before(uow: Any, principal: Any, draft: Any, key: str) -> Any:
    """The use case's statement sequence before the round trips were cut: an idempotency look-up, the
    insert, the trail, the fee's lock then post then cost update, the outbox message, each its own
    round trip (same repository calls, same transaction shape)."""
    from chalicelib.domain import economy as economy_rules
    from chalicelib.domain import layer_a
    from chalicelib.domain.ledger import SINK, agent_account, transfer
    from chalicelib.services.submissions import content_hash

    now = datetime.now(UTC)
    request_hash = draft.request_hash()
    with uow:
        earlier = uow.submissions.find_by_idempotency_key(principal.agent_id, key)
    if earlier is not None:
        return earlier
    title_scan, body_scan = layer_a.evaluate(draft.title), layer_a.evaluate(draft.body)
    submission_id = uuid.uuid4()
    values = {"id": submission_id, "agent_id": principal.agent_id, "kind": draft.kind,
              "title": title_scan.masked_text, "body": body_scan.masked_text, "domain": draft.domain,
              "latitude": None, "longitude": None, "mission_id": None,
              "content_hash": content_hash(draft.kind, draft.title, draft.body), "status": "pending",
              "decided_by": None, "decided_at": None, "idempotency_key": key, "request_hash": request_hash,
              "correlation_id": None, "created_at": now}
    verdict = {"blocked": False, "title": title_scan.to_dict(), "body": body_scan.to_dict(),
               "categories": sorted(set(title_scan.categories) | set(body_scan.categories))}
    with uow:
        row = uow.submissions.insert(values)
        uow.submissions.add_trail(submission_id, "layer_a", verdict)
        flags = uow.flags.current()
        account = agent_account(principal.agent_id)
        cost = economy_rules.submission_cost(draft.kind, float(flags["SUBMISSION_COST_MULTIPLIER"]))
        uow.ledger.lock_balances([account, SINK])
        uow.ledger.post_entry(idempotency_key=f"submission:{submission_id}", kind="submission_fee",
                              legs=transfer(account, SINK, cost),
                              memo={"submission_id": str(submission_id), "kind": draft.kind})
        uow.submissions.set_cost(submission_id, cost)
        uow.outbox.enqueue("guardrail", {"submission_id": str(submission_id)})
    return row


def _one_sink(key: str) -> str:
    from chalicelib.domain.ledger import SINK

    return SINK


@contextlib.contextmanager
def variant_in_force(variant: str) -> Iterator[None]:
    """While a one_sink run lasts, the fee's sink is the one sink of old; otherwise sink_for as it is."""
    from chalicelib.domain import ledger
    from chalicelib.services import economy

    economy.sink_for = _one_sink if variant == "one_sink" else ledger.sink_for  # type: ignore[attr-defined]
    try:
        yield
    finally:
        economy.sink_for = ledger.sink_for  # type: ignore[attr-defined]


VARIANTS: dict[str, Submit] = {"before": submit_before, "one_sink": submit_after, "after": submit_after}


def run_submissions(variant: str, workers: int, seconds: float, principals: list[Any], *,
                    server: ServerCpu) -> Run:
    from chalicelib import bootstrap
    from chalicelib.services.submissions import SubmissionDraft

    submit = VARIANTS[variant]
    tag = uuid.uuid4().hex[:8]
    mine = [principals[w::workers] for w in range(workers)]  # each worker its own agents
    start_at = time.time() + 0.3 + 0.01 * workers
    stop_at = start_at + seconds
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def worker(w: int) -> tuple[int, list[float]]:
        done = 0
        latencies: list[float] = []
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            principal = mine[w][done % len(mine[w])]
            draft = SubmissionDraft(kind="solution", title=TITLE.format(n=done),
                                    body=BODY.format(n=f"{tag}-{w}-{done}"), domain="clean_water_sanitation")
            began = time.perf_counter()
            try:
                submit(bootstrap.unit_of_work(), principal, draft, f"bench-{tag}-{w}-{done}")
            except Exception as exc:  # counted and shown, never fatal
                with lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                done += 1
                continue
            latencies.append(time.perf_counter() - began)
            done += 1
        return len(latencies), latencies

    cpu0, client0 = server.seconds(), time.process_time()
    with variant_in_force(variant), ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(worker, range(workers)))
    cpu1, client1 = server.seconds(), time.process_time()
    total = sum(r[0] for r in results)
    lat = [x for r in results for x in r[1]]
    per = 1000 / total if total else 0.0
    return Run(variant, workers, seconds, total, sum(errors.values()), round(total / seconds, 1),
               *percentiles(lat), server_cpu_ms=round((cpu1 - cpu0) * per, 3),
               client_cpu_ms=round((client1 - client0) * per, 3), error_kinds=errors)


def count_work(variant: str, principals: list[Any], url: str, n: int = 50) -> dict[str, Any]:
    """Statements, transactions and round trips per submission, from one worker (nothing else runs)."""
    from chalicelib import bootstrap
    from chalicelib.services.submissions import SubmissionDraft

    submit = VARIANTS[variant]
    from chalicelib.db.pool import close_pool

    counter = StatementCounter()
    tag = uuid.uuid4().hex[:8]
    close_pool()  # backends publish their statistics when they exit: earlier runs' are in before
    time.sleep(0.5)
    before = xacts(url)
    with counter.counting(), variant_in_force(variant):
        for i in range(n):
            draft = SubmissionDraft(kind="solution", title=TITLE.format(n=i), body=BODY.format(n=f"{tag}-{i}"),
                                    domain="clean_water_sanitation")
            submit(bootstrap.unit_of_work(), principals[i % len(principals)], draft, f"count-{tag}-{i}")
    close_pool()
    time.sleep(0.5)
    transactions = (xacts(url) - before - 1) / n  # minus the first read's own transaction
    statements = counter.count / n
    return {"statements": round(statements, 2), "transactions": round(transactions, 2),
            "round_trips": round(statements + 2 * transactions, 2),
            "by_statement": {k: round(v / n, 2) for k, v in sorted(counter.texts.items(), key=lambda kv: -kv[1])}}


# --- pgbench ------------------------------------------------------------------------------------

def pgbench(args: list[str], url: str) -> str:
    done = subprocess.run([str(PGBENCH), *args, url], capture_output=True, text=True, check=False, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout + done.stderr


def run_pgbench(url: str, workers: int, seconds: float, server: ServerCpu) -> Run:
    cpu0 = server.seconds()
    out = pgbench(["-c", str(workers), "-j", str(min(workers, 4)), "-T", str(int(seconds))], url)
    time.sleep(0.3)  # pgbench's backends exit and are reaped: their CPU moves to the postmaster's children
    cpu1 = server.seconds()
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out).group(1))  # type: ignore[union-attr]
    processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))  # type: ignore[union-attr]
    latency = re.search(r"latency average = ([0-9.]+) ms", out)
    return Run("pgbench", workers, seconds, processed, 0, round(tps, 1),
               p50_ms=float(latency.group(1)) if latency else None,
               server_cpu_ms=round((cpu1 - cpu0) * 1000 / processed, 3) if processed else None)


# --- HTTP ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_server(url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": url, "POWERTOOLS_METRICS_DISABLED": "true",
           "POWERTOOLS_LOG_LEVEL": "ERROR", "RATE_LIMIT_AGENT_PER_MIN": "1000000"}
    command = [sys.executable, "-m", "local", "serve", "--no-seed", "--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code < 500:
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError("the local server did not come up")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def http_load(base: str, keys: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    import httpx

    statuses: dict[str, int] = {}
    latencies: list[float] = []
    tag = uuid.uuid4().hex[:8]
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=10.0, limits=limits) as client:
        async def user(u: int) -> None:
            n = 0
            while time.monotonic() < stop_at:
                body = {"kind": "solution", "title": TITLE.format(n=n), "body": BODY.format(n=f"{tag}-{u}-{n}"),
                        "domain": "clean_water_sanitation"}
                headers = {"Authorization": f"Bearer {keys[u % len(keys)]}",
                           "Idempotency-Key": f"http-{tag}-{u}-{n}"}
                began = time.perf_counter()
                try:
                    response = await client.post("/v1/submissions", json=body, headers=headers)
                    status = str(response.status_code)
                except httpx.TimeoutException:
                    status = "timeout"
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - began
                statuses[status] = statuses.get(status, 0) + 1
                if status.startswith("2"):
                    latencies.append(elapsed)
                n += 1

        started = time.monotonic()
        await asyncio.gather(*(user(u) for u in range(concurrency)))
        wall = time.monotonic() - started
    p50, p95, p99 = percentiles(latencies)
    return {"concurrency": concurrency, "seconds": round(wall, 1), "ok": len(latencies),
            "ok_per_s": round(len(latencies) / wall, 1), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "statuses": statuses}


def run_http(url: str, keys: list[str], levels: list[int], seconds: float, *, server: ServerCpu,
             pg_url: str) -> list[dict[str, Any]]:
    from chalicelib.db.pool import close_pool

    close_pool()  # the server process has its own pool; ours gives its connections back
    port = free_port()
    out: list[dict[str, Any]] = []
    with local_server(url, port):
        asyncio.run(http_load(f"http://127.0.0.1:{port}", keys, 2, 2.0))  # warm-up (Layer A, pool)
        for level in levels:
            pg = run_pgbench(pg_url, min(level, 32), seconds, server)
            cpu0 = server.seconds()
            result = asyncio.run(http_load(f"http://127.0.0.1:{port}", keys, level, seconds))
            cpu1 = server.seconds()
            result["pgbench_tps"] = pg.tps
            result["server_cpu_ms_per_ok"] = round((cpu1 - cpu0) * 1000 / result["ok"], 3) if result["ok"] else None
            out.append(result)
            print(f"http c={level:<4d} {result['ok_per_s']:8.1f} ok/s  p50 {result['p50_ms']} ms  p95 "
                  f"{result['p95_ms']} ms  p99 {result['p99_ms']} ms  {result['statuses']}  (pgbench "
                  f"c={min(level, 32)} {pg.tps} tps)", flush=True)
    return out


# --- report -------------------------------------------------------------------------------------

def ratio(runs: list[Run], variant: str, workers: int) -> float | None:
    values = []
    for rnd in sorted({r.round for r in runs}):
        pg = [r.tps for r in runs if r.round == rnd and r.workers == workers and r.variant == "pgbench"]
        mine = [r.tps for r in runs if r.round == rnd and r.workers == workers and r.variant == variant]
        if pg and mine and pg[0]:
            values.append(mine[0] / pg[0])
    return round(statistics.median(values), 3) if values else None


def med(runs: list[Run], variant: str, workers: int, attr: str) -> float | None:
    values = [getattr(r, attr) for r in runs if r.variant == variant and r.workers == workers
              and getattr(r, attr) is not None]
    return round(statistics.median(values), 2) if values else None


def table(runs: list[Run], workers: list[int], variants: list[str]) -> list[list[str]]:
    rows = []
    for w in workers:
        for v in variants:
            rows.append([str(w), v, f"{med(runs, v, w, 'tps')}", f"{med(runs, 'pgbench', w, 'tps')}",
                         f"{ratio(runs, v, w)}", f"{med(runs, v, w, 'p50_ms')}", f"{med(runs, v, w, 'p95_ms')}",
                         f"{med(runs, v, w, 'p99_ms')}", f"{med(runs, v, w, 'server_cpu_ms')}",
                         f"{med(runs, v, w, 'client_cpu_ms')}",
                         str(sum(r.errors for r in runs if r.variant == v and r.workers == w))])
    return rows


HEADER = ["workers", "variant", "submissions/s", "pgbench tps", "ratio", "p50 ms", "p95 ms", "p99 ms",
          "server CPU ms/sub", "client CPU ms/sub", "errors"]


def markdown(result: dict[str, Any]) -> str:
    meta, work = result["meta"], result["work"]
    lines = [
        "# Ingestion: submissions beside pgbench", "",
        f"{meta['when']}, {meta['cpus']} CPUs (shared, loaded: load average {meta['load_before']} before, "
        f"{meta['load_after']} after), PostgreSQL {meta['server_version']}, fsync={meta['fsync']}, "
        f"synchronous_commit={meta['synchronous_commit']}; {meta['seconds']} s per run, medians of "
        f"{meta['rounds']} rounds; pgbench TPC-B -s 1 with -c = workers, just before each round's runs.", "",
        "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in result["table"]]
    lines += ["", "pgbench server CPU per transaction: "
              + ", ".join(f"{w} clients {med_dict(result['runs'], w)} ms" for w in meta["workers"]) + ".", "",
              "Database work per submission (one worker, counted client-side; transactions from "
              "pg_stat_database; round trips = statements + BEGIN + COMMIT per transaction):", "",
              "| variant | statements | transactions | round trips |", "|---|---|---|---|"]
    for v, w in work.items():
        lines.append(f"| {v} | {w['statements']} | {w['transactions']} | {w['round_trips']} |")
    for v, w in work.items():
        lines += ["", f"Statements of `{v}`: " + "; ".join(f"`{k}` x{n}" for k, n in w["by_statement"].items())]
    lines += ["", f"Goal at 8 workers (after): >= 0.5x pgbench and p95 < 25 ms: **{meta['goal']}**.", ""]
    if result.get("http"):
        lines += ["## Over HTTP (local server: waitress + the Chalice app, asyncio httpx client)", "",
                  "| concurrency | ok/s | p50 ms | p95 ms | p99 ms | statuses | server CPU ms/ok "
                  "| pgbench tps (same c, max 32) |",
                  "|---|---|---|---|---|---|---|---|"]
        for h in result["http"]:
            lines.append(f"| {h['concurrency']} | {h['ok_per_s']} | {h['p50_ms']} | {h['p95_ms']} | {h['p99_ms']} "
                         f"| {', '.join(f'{k}: {v}' for k, v in sorted(h['statuses'].items()))} "
                         f"| {h['server_cpu_ms_per_ok']} | {h['pgbench_tps']} |")
        lines.append("")
    return "\n".join(lines)


def med_dict(runs: list[dict[str, Any]], workers: int) -> float | None:
    values = [r["server_cpu_ms"] for r in runs if r["variant"] == "pgbench" and r["workers"] == workers
              and r["server_cpu_ms"] is not None]
    return round(statistics.median(values), 3) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--variants", default="one_sink,after")
    parser.add_argument("--http", action="store_true", help="also drive the local HTTP server")
    parser.add_argument("--http-seconds", type=float, default=6)
    parser.add_argument("--http-concurrency", default="4,16,64,256")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "build" / "bench")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    if not set(variants) <= set(VARIANTS):
        parser.error(f"--variants takes {', '.join(VARIANTS)}")

    began = time.time()
    load_before = [round(x, 2) for x in os.getloadavg()]
    suffix = uuid.uuid4().hex[:6]
    db_name, pg_name = f"peerguard_bench_ingest_{suffix}", f"peerguard_bench_ingest_pgbench_{suffix}"
    url = database.create_scratch_database(db_name)
    pg_url = database.create_scratch_database(pg_name)
    try:
        from chalicelib.db.migrate import migrate

        migrate(url)
        configure(url, max(workers) + 4)
        principals, keys = seed(args.agents)
        server = ServerCpu(url)
        pgbench(["-i", "-s", "1", "-q"], pg_url)
        for v in variants:  # warm-up: Layer A's matchers, the pool's connections, prepared statements
            run_submissions(v, max(workers), 1.0, principals, server=server)
        work = {v: count_work(v, principals, url) for v in variants}
        runs: list[Run] = []
        for rnd in range(args.rounds):
            for w in workers:
                steps: list[tuple[str, Callable[[], Run]]] = [
                    ("pgbench", lambda w=w: run_pgbench(pg_url, w, args.seconds, server))]  # type: ignore[misc]
                order = variants if rnd % 2 == 0 else variants[::-1]  # neither variant always runs first
                steps += [(v, lambda v=v, w=w: run_submissions(v, w, args.seconds, principals, server=server))  # type: ignore[misc]
                          for v in order]
                for label, step in steps:
                    run = replace(step(), round=rnd)
                    runs.append(run)
                    print(f"round {rnd} w={w:<3d} {label:8s} {run.tps:8.1f}/s  p50 {run.p50_ms}  p95 {run.p95_ms}"
                          f"  p99 {run.p99_ms} ms  server {run.server_cpu_ms} ms  client {run.client_cpu_ms} ms"
                          f"  errors {run.error_kinds or 0}", flush=True)
        http = run_http(url, keys, [int(c) for c in args.http_concurrency.split(",")], args.http_seconds,
                        server=server, pg_url=pg_url) if args.http else []
        with psycopg.connect(url) as conn:
            settings = {name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                        for name in ("server_version", "fsync", "synchronous_commit")}
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    finally:
        from chalicelib.db.pool import close_pool

        close_pool()
        database.drop_database(db_name)
        database.drop_database(pg_name)

    target_w = 8 if 8 in workers else max(workers)
    final = variants[-1]
    r8, p95 = ratio(runs, final, target_w), med(runs, final, target_w, "p95_ms")
    goal = "met" if (r8 or 0) >= 0.5 and p95 is not None and p95 < 25 else "missed"
    rows = table(runs, workers, variants)
    result: dict[str, Any] = {
        "meta": {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(began)), "cpus": os.cpu_count(),
                 "python": platform.python_version(), **settings, "seconds": args.seconds, "rounds": args.rounds,
                 "workers": workers, "agents": args.agents, "load_before": load_before,
                 "load_after": [round(x, 2) for x in os.getloadavg()], "goal": goal,
                 "goal_ratio": r8, "goal_p95_ms": p95, "runtime_s": round(time.time() - began, 1)},
        "work": work,
        "runs": [asdict(r) for r in runs],
        "table": rows,
        "http": http,
    }
    print()
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    print("  ".join(h.rjust(widths[i]) for i, h in enumerate(HEADER)))
    for row in rows:
        print("  ".join(c.rjust(widths[i]) for i, c in enumerate(row)))
    for v, counts in work.items():
        print(f"{v}: {counts['statements']} statements, {counts['transactions']} transactions, "
              f"{counts['round_trips']} round trips"
              " per submission")
    print(f"goal at {target_w} workers ({final} >= 0.5x pgbench, p95 < 25 ms): {goal} (ratio {r8}, p95 {p95} ms);"
          f" runtime {result['meta']['runtime_s']} s")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "ingest.json").write_text(json.dumps(result, indent=2, default=str))
    (args.out_dir / "ingest.md").write_text(markdown(result))
    return 0 if all(r.errors == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
