"""Ledger throughput beside pgbench TPC-B on the same PostgreSQL server, in the same run.

Usage: python bench/bench_ledger.py [--seconds 4] [--rounds 3] [--workers 1,8,32]
       [--modes threads[,processes]] [--accounts 1000] [--out-dir build/bench]

Each transfer is what production does: one transaction holding one `ledger_repo.post_entry` with
two legs and a unique idempotency key, committed (fsync and synchronous_commit as the server has
them). Two scenarios:

- hot: every transfer debits the same agent account (all workers queue on one row lock);
- spread: each transfer moves 1 millicredit between two random agent accounts out of --accounts.

Workers are threads (each with its own connection) or, with --modes threads,processes, also
processes (each with its own connection), to see whether the GIL bounds the Python client. pgbench
runs the built-in TPC-B script (-s 1) in a scratch database of the same server with -c equal to the
worker count. Each worker count runs --rounds rounds of pgbench, hot, spread back to back; the table
shows medians over the rounds, and the ratio to pgbench is the median of the per-round ratios (each
ledger run against the pgbench run just before it), so a neighbour's burst on a shared machine
skews one round, not the comparison. The JSON keeps every run and the load average before and after.
After the runs the ledger is verified (every balance rebuilt from the journal): the report says
how many mismatches there were (there must be none). Results go to build/bench/ledger.json and
build/bench/ledger.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.rows import dict_row

from chalicelib.adapters import ledger_repo
from chalicelib.db.migrate import migrate
from chalicelib.domain.ledger import FAUCET, transfer
from local import database

PGBENCH = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / (
    "site-packages/pgserver/pginstall/bin/pgbench")
HOT_FUNDS = 10**12
SPREAD_FUNDS = 10**9


@dataclass
class Run:
    scenario: str  # hot | spread | pgbench
    mode: str  # threads | processes | pgbench
    workers: int
    seconds: float
    transactions: int
    errors: int
    tps: float
    p50_ms: float | None
    p95_ms: float | None
    round: int = 0


def connect(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, row_factory=dict_row, autocommit=False)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn


# --- set-up -------------------------------------------------------------------------------------

def seed(url: str, n_accounts: int) -> tuple[str, list[str]]:
    """Agents with funded accounts: one hot account and n spread accounts, all granted by the faucet."""
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO agents (id, kind, name, owner_id)"
            " SELECT gen_random_uuid(), 'agent', 'bench-' || i, gen_random_uuid() FROM generate_series(0, %s) i",
            (n_accounts,),
        )
        conn.execute("INSERT INTO accounts (code, kind, agent_id) SELECT 'agent:' || id, 'agent', id FROM agents")
        codes = [r["code"] for r in conn.execute("SELECT code FROM accounts WHERE kind = 'agent' ORDER BY id")]
        hot, spread = codes[0], codes[1:]
        # One grant per account, like starter grants (a single huge entry would skew the statistics).
        for i, code in enumerate(codes):
            ledger_repo.post_entry(conn, idempotency_key=f"bench:funding:{i}", kind="bench_grant",
                                   legs=transfer(FAUCET, code, HOT_FUNDS if code == hot else SPREAD_FUNDS))
        conn.execute("ANALYZE")
        conn.commit()
    return hot, spread


# --- ledger workers -----------------------------------------------------------------------------

def ledger_worker(args: tuple[str, str, str, list[str], int, str, float, float]) -> tuple[int, int, list[float]]:
    """Transfers until stop_at; returns (committed, errors, latency sample in seconds)."""
    url, scenario, hot, spread, worker_id, tag, start_at, stop_at = args
    rng = random.Random(f"{tag}:{worker_id}")
    conn = connect(url)
    done = errors = 0
    latencies: list[float] = []
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        while time.time() < stop_at:
            if scenario == "hot":
                source, target = hot, rng.choice(spread)
            else:
                source, target = rng.sample(spread, 2)
            began = time.perf_counter()
            try:
                with conn.transaction():
                    ledger_repo.post_entry(conn, idempotency_key=f"bench:{tag}:{worker_id}:{done}",
                                           kind="bench_transfer", legs=transfer(source, target, 1))
            except psycopg.Error:
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)
            done += 1
    finally:
        conn.close()
    return done, errors, latencies[:: max(1, len(latencies) // 2000)]


def run_ledger(url: str, *, scenario: str, mode: str, workers: int, seconds: float, hot: str,
               spread: list[str]) -> Run:
    tag = f"{scenario}-{mode}-{workers}-{time.time_ns()}"
    start_at = time.time() + 0.5 + 0.02 * workers
    stop_at = start_at + seconds
    jobs = [(url, scenario, hot, spread, w, tag, start_at, stop_at) for w in range(workers)]
    if mode == "threads":
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(ledger_worker, jobs))
    else:
        with multiprocessing.get_context("fork").Pool(workers) as procs:
            results = procs.map(ledger_worker, jobs)
    total = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    return Run(scenario, mode, workers, seconds, total, sum(r[1] for r in results), round(total / seconds, 1),
               *_percentiles(latencies))


def _percentiles(latencies: list[float]) -> tuple[float | None, float | None]:
    if not latencies:
        return None, None
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    return round(p50 * 1000, 2), round(p95 * 1000, 2)


# --- pgbench ------------------------------------------------------------------------------------

def pgbench(args: list[str], url: str) -> str:
    done = subprocess.run([str(PGBENCH), *args, url], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout + done.stderr


def run_pgbench(url: str, workers: int, seconds: float) -> Run:
    out = pgbench(["-c", str(workers), "-j", str(min(workers, 4)), "-T", str(int(seconds)), "-r"], url)
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out).group(1))  # type: ignore[union-attr]
    processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", out)
    latency = re.search(r"latency average = ([0-9.]+) ms", out)
    return Run("pgbench", "pgbench", workers, seconds, processed, int(failed.group(1)) if failed else 0,
               round(tps, 1), float(latency.group(1)) if latency else None, None)


# --- report -------------------------------------------------------------------------------------

def medians(runs: list[Run]) -> dict[tuple[str, str, int], float]:
    """Median tps of each (scenario, mode, workers) over the rounds."""
    grouped: dict[tuple[str, str, int], list[float]] = {}
    for r in runs:
        grouped.setdefault((r.scenario, r.mode, r.workers), []).append(r.tps)
    return {k: statistics.median(v) for k, v in grouped.items()}


def ratios(runs: list[Run], workers: int, modes: list[str]) -> list[float]:
    """Per round: the best spread tps of the round over the pgbench tps run just before it."""
    out: list[float] = []
    for rnd in sorted({r.round for r in runs}):
        this = [r for r in runs if r.round == rnd and r.workers == workers]
        pg = next(r.tps for r in this if r.scenario == "pgbench")
        best = max(r.tps for r in this if r.scenario == "spread" and r.mode in modes)
        out.append(best / pg if pg else 0.0)
    return out


def table(runs: list[Run], workers: list[int], modes: list[str]) -> tuple[list[str], list[list[str]]]:
    med = medians(runs)
    header = ["workers", "pgbench TPC-B tps"]
    for scenario in ("hot", "spread"):
        header += [f"{scenario} ({mode}) tps" for mode in modes]
    header += ["spread / pgbench"]
    rows = []
    for w in workers:
        row = [str(w), f"{med[('pgbench', 'pgbench', w)]:.0f}"]
        for scenario in ("hot", "spread"):
            row += [f"{med[(scenario, m, w)]:.0f}" for m in modes]
        row.append(f"{100 * statistics.median(ratios(runs, w, modes)):.0f} %")
        rows.append(row)
    return header, rows


def markdown(header: list[str], rows: list[list[str]], meta: dict[str, Any]) -> str:
    lines = ["# Ledger throughput beside pgbench", "",
             f"{meta['when']}, {meta['cpus']} CPUs, PostgreSQL {meta['server_version']}, "
             f"fsync={meta['fsync']}, synchronous_commit={meta['synchronous_commit']}, "
             f"{meta['seconds']} s per run, medians of {meta['rounds']} rounds, {meta['accounts']} spread"
             f" accounts; load average {meta['load_before']} before, {meta['load_after']} after.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", f"Target: spread transfers >= 50 % of pgbench tps (median ratio): **{meta['target']}**.",
              f"Ledger verification after the runs: {meta['accounts_checked']} accounts, "
              f"{meta['mismatches']} mismatches.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--modes", default="threads")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--out-dir", type=Path, default=Path("build/bench"))
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= {"threads", "processes"}:
        parser.error("--modes takes threads and/or processes")

    began = time.time()
    load_before = [round(x, 2) for x in os.getloadavg()]
    suffix = f"{os.getpid()}"
    ledger_db, pg_db = f"peerguard_bench_ledger_{suffix}", f"peerguard_bench_pgbench_{suffix}"
    ledger_url = database.create_scratch_database(ledger_db)
    pg_url = database.create_scratch_database(pg_db)
    try:
        migrate(ledger_url)
        with contextlib.redirect_stdout(io.StringIO()):  # the funding grants emit metric lines
            hot, spread = seed(ledger_url, args.accounts)
        pgbench(["-i", "-s", "1", "-q"], pg_url)
        runs: list[Run] = []
        for rnd in range(args.rounds):
            for w in workers:
                steps: list[tuple[str, Callable[[], Run]]] = [
                    (f"pgbench c={w}", partial(run_pgbench, pg_url, w, args.seconds))]
                for scenario in ("hot", "spread"):
                    for mode in modes:
                        steps.append((f"{scenario} {mode} w={w}", partial(
                            run_ledger, ledger_url, scenario=scenario, mode=mode, workers=w,
                            seconds=args.seconds, hot=hot, spread=spread)))
                for label, step in steps:
                    run = replace(step(), round=rnd)
                    runs.append(run)
                    print(f"round {rnd} {label:24s} {run.tps:10.1f} tps  p50 {run.p50_ms} ms  p95 {run.p95_ms} ms"
                          f"  errors {run.errors}", flush=True)
        with connect(ledger_url) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            report = ledger_repo.verify(conn)
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[name]  # type: ignore[index]
                        for name in ("server_version", "fsync", "synchronous_commit")}
    finally:
        database.drop_database(ledger_db)
        database.drop_database(pg_db)

    header, rows = table(runs, workers, modes)
    met = all(statistics.median(ratios(runs, w, modes)) >= 0.5 for w in workers)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(began)),
        "cpus": os.cpu_count(), "python": platform.python_version(), **settings,
        "seconds": args.seconds, "rounds": args.rounds, "accounts": args.accounts,
        "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()],
        "target": "met" if met else "missed",
        "accounts_checked": report["accounts_checked"], "mismatches": len(report["mismatches"]),
        "runtime_s": round(time.time() - began, 1),
    }
    print()
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(widths[i]) for i, h in enumerate(header)))
    for r in rows:
        print("  ".join(c.rjust(widths[i]) for i, c in enumerate(r)))
    print(f"\ntarget (spread >= 50 % of pgbench): {meta['target']}; ledger mismatches: {meta['mismatches']};"
          f" runtime {meta['runtime_s']} s")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "ledger.json").write_text(json.dumps(
        {"meta": meta, "runs": [asdict(r) for r in runs], "table": {"header": header, "rows": rows}}, indent=2))
    (args.out_dir / "ledger.md").write_text(markdown(header, rows, meta))
    return 0 if report["mismatches"] == [] else 1


if __name__ == "__main__":
    sys.exit(main())
