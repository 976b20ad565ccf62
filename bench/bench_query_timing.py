"""What the slow-query log costs: the pool's TimedCursor beside psycopg's plain cursor.

Usage: python bench/bench_query_timing.py [--statements 20000] [--rounds 7] [--out-dir build/bench]

Two measurements, each alternating plain / timed in rounds and reporting medians:

- wrapper only: both cursors' `execute` reach a stub instead of the server, so the difference is
  exactly the wrapper (two clock reads, a comparison, a try/finally);
- end to end: `SELECT 1` and a primary-key lookup against the embedded PostgreSQL over its Unix
  socket, the cheapest statements the service runs (the relative cost only falls from there).

Results go to build/bench/query_timing.json and build/bench/query_timing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.rows import dict_row

from chalicelib.db import timing
from local import database

STATEMENTS = {
    "SELECT 1": ("SELECT 1", None),
    "primary-key lookup": ("SELECT id, code, balance FROM bench_accounts WHERE id = %s", (7,)),
}


def _per_statement_ns(run: Callable[[], None], n: int) -> float:
    started = time.perf_counter_ns()
    run()
    return (time.perf_counter_ns() - started) / n


def wrapper_only(n: int, rounds: int) -> dict[str, float]:
    """Both cursors call a stub instead of the server: the difference is the wrapper itself."""
    original = psycopg.Cursor.execute

    def stub(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return self

    psycopg.Cursor.execute = stub  # type: ignore[method-assign]
    try:
        plain = psycopg.Cursor.__new__(psycopg.Cursor)
        timed = timing.TimedCursor.__new__(timing.TimedCursor)
        samples: dict[str, list[float]] = {"plain": [], "timed": []}
        for _ in range(rounds):
            for name, cursor in (("plain", plain), ("timed", timed)):
                execute = cursor.execute

                def loop(execute: Callable[..., Any] = execute) -> None:
                    for _ in range(n):
                        execute("SELECT 1")

                samples[name].append(_per_statement_ns(loop, n))
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]
    plain_ns, timed_ns = statistics.median(samples["plain"]), statistics.median(samples["timed"])
    return {"plain_ns": round(plain_ns, 1), "timed_ns": round(timed_ns, 1),
            "overhead_ns": round(timed_ns - plain_ns, 1)}


def end_to_end(url: str, n: int, rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS bench_accounts (id int PRIMARY KEY, code text, balance bigint)")
        setup.execute("INSERT INTO bench_accounts SELECT g, 'acct-' || g, g * 10 FROM generate_series(1, 1000) g"
                      " ON CONFLICT DO NOTHING")
    plain_conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
    timed_conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, cursor_factory=timing.TimedCursor)
    try:
        for label, (sql, params) in STATEMENTS.items():
            samples: dict[str, list[float]] = {"plain": [], "timed": []}
            for _ in range(rounds):
                for name, conn in (("plain", plain_conn), ("timed", timed_conn)):
                    def loop(conn: Any = conn, sql: str = sql, params: Any = params) -> None:
                        for _ in range(n):
                            conn.execute(sql, params).fetchone()

                    samples[name].append(_per_statement_ns(loop, n))
            plain_us = statistics.median(samples["plain"]) / 1000
            timed_us = statistics.median(samples["timed"]) / 1000
            results[label] = {"plain_us": round(plain_us, 2), "timed_us": round(timed_us, 2),
                              "overhead_us": round(timed_us - plain_us, 2),
                              "overhead_pct": round(100 * (timed_us - plain_us) / plain_us, 2)}
    finally:
        plain_conn.close()
        timed_conn.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out-dir", default="build/bench")
    args = parser.parse_args(argv)
    timing.configure(timing.DEFAULT_THRESHOLD_MS)
    wrapper = wrapper_only(args.statements * 10, args.rounds)
    name = f"bench_query_timing_{os.getpid()}"
    url = database.create_scratch_database(name)
    try:
        e2e = end_to_end(url, args.statements, args.rounds)
    finally:
        database.drop_database(name)
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_1min": round(os.getloadavg()[0], 2)},
        "statements_per_round": args.statements, "rounds": args.rounds,
        "wrapper_only": wrapper, "end_to_end": e2e,
    }
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "query_timing.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Slow-query log overhead", "",
        f"Python {report['machine']['python']}, {report['machine']['cpus']} CPUs, load "
        f"{report['machine']['load_1min']}; medians of {args.rounds} alternating rounds.", "",
        f"Wrapper alone: {wrapper['overhead_ns']} ns per statement "
        f"(stubbed execute: plain {wrapper['plain_ns']} ns, timed {wrapper['timed_ns']} ns).", "",
        "| statement | plain (µs) | timed (µs) | overhead (µs) | overhead |", "|---|---|---|---|---|",
    ]
    for label, r in e2e.items():
        lines.append(f"| {label} | {r['plain_us']} | {r['timed_us']} | {r['overhead_us']} | {r['overhead_pct']} % |")
    (out / "query_timing.md").write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
