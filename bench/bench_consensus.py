"""Peer consensus latency and the throughput of the whole peer path, beside pgbench TPC-B.

Usage: python bench/bench_consensus.py [--submissions 200] [--consumers 1,4,8] [--duplicates 100]
       [--paced 100] [--rate 5] [--validators 30] [--answer-threads 4] [--pgbench-seconds 5]
       [--out-dir build/bench]

In a scratch database of the configured PostgreSQL server (embedded by default): validators join
the pool, peer traffic is set to 100 %, validation rewards are on, and the local dispatcher (the
in-process stand-in for SQS) runs the guardrail and consensus stages exactly as `make run` does,
with N concurrent consumers per queue as Lambda gives an SQS queue (the burst runs at each N of
--consumers, pgbench TPC-B with -c N just before it). Authors submit through the
submission use case; answer threads play the validators, giving exactly three answers per
submission through the evaluation use case, so the third answer completes the quorum and queues
the consensus message. Scenarios: a burst at each consumer count (every submission at once: the
queue builds up), a burst at the largest count with every message delivered twice (the copy
concurrently, in reverse order) and a paced stream (below the path's throughput: the steady state).

After every scenario the benchmark asserts that duplicates and disorder stayed harmless: the ledger
verifies clean, every decided submission has exactly one consensus decision and one consensus trail
entry, and every answered evaluation of those submissions was paid exactly once (its key) and only
those; the run fails otherwise.

Measured per scenario:
- consensus latency: from the quorum-completing answer (its time is stamped on the review) to the
  decision applied with all its work (scores, tiers, rewards, spot-check pick), as the consensus
  stage records it in ``consensus_decisions.latency_ms``; it includes the wait in the outbox;
- the consensus stage's own time per message (handler start to commit);
- peer decisions per second over the wall time from the first submission to the last decision
  (Layer A, Layer B offline, routing, assignment, three answers, consensus: the whole path);
- database work per peer decision, from submission to settled rewards: statements and transactions
  run by the pool's connections over the scenario (counted client-side; idle polls that found
  nothing, i.e. empty outbox claims and empty validator inbox reads, and the benchmark's own
  progress query are left out), and the PostgreSQL server's CPU time per decision (/proc);
and pgbench's built-in TPC-B (-s 5) tps on the same database, in the same run.

JSON and markdown go to build/bench/consensus.json and consensus.md. Bounded: about a minute with
the defaults, well under 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.pq import TransactionStatus

from bench.bench_ingest import ServerCpu
from chalicelib import bootstrap
from local import database

PGBENCH = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / (
    "site-packages/pgserver/pginstall/bin/pgbench")
BODY = ("Volunteers will repair the village water pump and build a latrine block with handwashing stations: "
        "safe drinking water, sanitation and hygiene for 300 families. Budget, plan and survey data. #{n}")
DEADLINE_S = 150


def configure(url: str) -> None:
    os.environ.update({
        "DATABASE_URL": url, "DISPATCH_MODE": "local", "TRUST_VERIFIED_MIN_AGE_DAYS": "0",
        "TRUST_VERIFIED_MIN_APPROVALS": "0", "VALIDATOR_DAILY_QUOTA": "1000000", "DB_POOL_MAX_SIZE": "12",
        "POWERTOOLS_METRICS_NAMESPACE": "peerguard", "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",
    })
    os.environ.pop("ANTHROPIC_API_KEY", None)
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings
    from chalicelib.observability import logger

    logger.setLevel("ERROR")  # the stages' INFO lines would bury the tables (imported before the setting)
    reset_settings()
    bootstrap.reset()


def percentile(values: list[float], q: float) -> float | None:
    from chalicelib.domain.gates import percentile as nearest_rank

    return nearest_rank(values, q)


class PeerPath:
    """The pool, the authors and the local dispatcher, set up once for every scenario."""

    def __init__(self, n_validators: int, answer_threads: int) -> None:
        from chalicelib import bootstrap
        from chalicelib.adapters import flags_repo
        from chalicelib.db.pool import transaction
        from chalicelib.services import consensus, validators
        from chalicelib.services.submissions import SubmissionDraft, submit_content
        from local.handlers import local_handlers

        self.validators = [self.principal(f"validator-{i}") for i in range(n_validators)]
        validators.backfill(bootstrap.unit_of_work())
        self.authors = [self.principal(f"author-{i}") for i in range(10)]  # after the backfill: no validators
        self.answer_threads = answer_threads
        # Layer A builds its matchers on first use: warm it up before anything is measured.
        submit_content(bootstrap.unit_of_work(), self.authors[0], SubmissionDraft(kind="problem", title="warm-up",
                                                                                  body="warm-up text"))
        with transaction() as conn:
            flags_repo.set_flag(conn, "VALIDATION_REWARDS_ENABLED", True, actor="bench", reason="bench")
            flags_repo.set_flag(conn, "PEER_VALIDATION_ENABLED", True, actor="bench", reason="bench")
            flags_repo.set_flag(conn, "PEER_VALIDATION_TRAFFIC_PCT", 100, actor="bench", reason="bench",
                                forced=True)
        # The consensus stage's own time per message (handler start to commit), beside the latency.
        self.stage_ms: list[float] = []
        original = consensus.run_consensus

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.stage_ms.append((time.perf_counter() - t0) * 1000)

        consensus.run_consensus = timed  # type: ignore[assignment]
        self.handlers = local_handlers()
        self.dispatcher: Any = None  # local.dispatcher.Dispatcher while one runs
        self.answered: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    @staticmethod
    def principal(name: str) -> Any:
        from chalicelib.services import agents

        reg = agents.register_agent(bootstrap.unit_of_work(), kind="agent", name=name, description="", caller=None)
        return agents.authenticate(bootstrap.unit_of_work(), f"Bearer {reg.api_key}")

    def start_dispatcher(self, consumers: int, *, duplicate: bool = False) -> None:
        """The local SQS stand-in with `consumers` concurrent consumers per queue."""
        from local.dispatcher import Dispatcher, DuplicatingSender, LocalSender

        self.stop_dispatcher()
        sender = (DuplicatingSender if duplicate else LocalSender)(self.handlers)
        bootstrap.install_sender(sender)
        self.dispatcher = Dispatcher(sender, idle_sleep_s=0.005, max_idle_sleep_s=0.05, consumers=consumers)
        self.dispatcher.start()

    def stop_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stopped.set()
            self.dispatcher.join(timeout=30)
            self.dispatcher = None
        bootstrap.install_sender(None)

    def close(self) -> None:
        self.stop_dispatcher()

    def play(self, validator: Any) -> int:
        """Answer open evaluations, at most three per submission (the third completes the quorum)."""
        from chalicelib.services import evaluations

        done = 0
        for e in evaluations.pending_evaluations(bootstrap.unit_of_work(), validator, limit=100, after=None):
            key = str(e["submission_id"])
            with self.lock:
                if self.answered.get(key, 0) >= 3:
                    continue
                self.answered[key] = self.answered.get(key, 0) + 1
            try:
                evaluations.answer_evaluation(bootstrap.unit_of_work(), validator, e["id"],
                                              evaluations.EvaluationAnswer(
                    decision="approve", confidence=0.9, reasoning="benchmark answer"))
            except Exception as exc:  # counted, never fatal: the report shows them
                with self.lock:
                    self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
                continue
            done += 1
        return done

    def scenario(self, name: str, n_submissions: int, rate_per_s: float | None, *, server: ServerCpu,
                 consumers: int) -> dict[str, Any]:
        """Submit ``n_submissions`` (all at once, or paced at ``rate_per_s``) and wait for every decision."""
        from chalicelib.db.pool import transaction
        from chalicelib.services.submissions import SubmissionDraft, submit_content

        stop = threading.Event()
        stage_before = len(self.stage_ms)
        work = WorkCounter()
        cpu_before = server.seconds()
        work.start()

        def validators_loop(pool: ThreadPoolExecutor) -> None:
            while not stop.is_set():
                if sum(pool.map(self.play, self.validators)) == 0:
                    time.sleep(0.01)

        started = time.monotonic()
        started_at = datetime.now(UTC)
        prefix = f"[{name}]"
        with ThreadPoolExecutor(max_workers=self.answer_threads) as pool:
            loop = threading.Thread(target=validators_loop, args=(pool,), daemon=True)
            loop.start()
            for n in range(n_submissions):
                if rate_per_s:
                    time.sleep(max(0.0, started + n / rate_per_s - time.monotonic()))
                submit_content(bootstrap.unit_of_work(), self.authors[n % len(self.authors)], SubmissionDraft(
                    kind="solution", title=f"{prefix} Water pump repair {n}", body=BODY.format(n=n),
                    domain="clean_water_sanitation"))
            submitted = time.monotonic()
            row: dict[str, Any] | None = None
            while time.monotonic() < started + DEADLINE_S:
                with transaction() as conn:
                    row = conn.execute(
                        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, max(decided_at) AS last"
                        " FROM submissions WHERE title LIKE %s", (prefix + "%",)).fetchone()
                assert row is not None
                if row["pending"] == 0:
                    break
                time.sleep(0.05)
            stop.set()
            loop.join(timeout=10)
        work.stop()
        cpu_seconds = server.seconds() - cpu_before
        assert row is not None
        with transaction() as conn:
            rows = conn.execute(
                "SELECT c.latency_ms, c.decided_by FROM consensus_decisions c JOIN submissions s"
                " ON s.id = c.submission_id WHERE c.status = 'decided' AND s.title LIKE %s",
                (prefix + "%",)).fetchall()
            by_path = conn.execute(
                "SELECT coalesce(decided_by, 'pending') AS by, count(*) AS n FROM submissions"
                " WHERE title LIKE %s GROUP BY 1 ORDER BY 1", (prefix + "%",)).fetchall()
        latencies = [float(r["latency_ms"]) for r in rows if r["latency_ms"] is not None]
        stage = self.stage_ms[stage_before:]
        peer_decided = sum(1 for r in rows if r["decided_by"] == "peer")
        wall = (row["last"] - started_at).total_seconds() if row["last"] else time.monotonic() - started
        per = 1 / peer_decided if peer_decided else 0.0
        return {
            "scenario": name,
            "consumers": consumers,
            "statements_per_decision": round(work.statements * per, 1),
            "transactions_per_decision": round(work.transactions * per, 1),
            "server_cpu_ms_per_decision": round(cpu_seconds * 1000 * per, 2),
            "top_statements": work.top(12, per),
            "checks": check_invariants(prefix),
            "submissions": n_submissions,
            "rate_per_s": rate_per_s,
            "decided_by": {r["by"]: int(r["n"]) for r in by_path},
            "peer_decisions": peer_decided,
            "pending_at_end": int(row["pending"]),
            "answer_errors": dict(self.errors),
            "submit_seconds": round(submitted - started, 2),
            "wall_seconds": round(wall, 2),
            "decisions_per_second": round(peer_decided / wall, 1) if wall > 0 else None,
            "latency_ms": summary(latencies),
            "stage_ms": summary(stage),
        }


class WorkCounter:
    """Statements and transactions the pool's connections run meanwhile (TimedCursor is their cursor),
    leaving out idle polls that found nothing and the benchmark's own progress query."""

    POLLS = ("WITH due AS (", "SELECT e.id, e.submission_id, e.mode")  # outbox claims, validator inboxes
    OWN = ("SELECT count(*) FILTER (WHERE status = 'pending')",)

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0
        self.texts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._original: Any = None

    def start(self) -> None:
        from chalicelib.db import timing

        original = self._original = timing.TimedCursor.execute
        counter = self

        def execute(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            begins = cursor.connection.info.transaction_status == TransactionStatus.IDLE
            result = original(cursor, query, params, **kwargs)
            text = timing._text(query)
            if text.startswith(counter.OWN) or (text.startswith(counter.POLLS) and cursor.rowcount == 0):
                return result
            with counter._lock:
                counter.statements += 1
                counter.transactions += begins
                counter.texts[text[:70]] = counter.texts.get(text[:70], 0) + 1
            return result

        timing.TimedCursor.execute = execute  # type: ignore[method-assign,assignment]

    def stop(self) -> None:
        from chalicelib.db import timing

        if self._original is not None:
            timing.TimedCursor.execute = self._original  # type: ignore[method-assign]
            self._original = None

    def top(self, n: int, per: float) -> dict[str, float]:
        ranked = sorted(self.texts.items(), key=lambda kv: -kv[1])[:n]
        return {text: round(count * per, 2) for text, count in ranked}


def check_invariants(prefix: str) -> dict[str, Any]:
    """Duplicates and disorder left no trace: one decision, one consensus trail entry and one reward per
    answered evaluation for every peer-decided submission of the scenario, and a ledger that verifies."""
    from chalicelib.adapters import ledger_repo
    from chalicelib.db.pool import transaction

    with transaction() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report = ledger_repo.verify(conn)
        row = conn.execute(
            "WITH s AS (SELECT id FROM submissions WHERE title LIKE %s AND decided_by = 'peer'),"
            " t AS (SELECT t.submission_id, count(*) AS n FROM decision_trail t JOIN s ON s.id = t.submission_id"
            "       WHERE t.stage = 'consensus' GROUP BY 1),"
            " e AS (SELECT e.id, e.status FROM evaluations e JOIN s ON s.id = e.submission_id)"
            " SELECT (SELECT count(*) FROM s) AS submissions,"
            "  (SELECT count(*) FROM consensus_decisions c JOIN s ON s.id = c.submission_id"
            "   WHERE c.status = 'decided') AS decisions,"
            "  (SELECT count(*) FROM t) AS with_trail, (SELECT count(*) FROM t WHERE n <> 1) AS repeated_trail,"
            "  (SELECT count(*) FROM e WHERE status = 'answered') AS answered,"
            "  (SELECT count(*) FROM journal_entries j JOIN e ON j.idempotency_key = 'validation:' || e.id"
            "   WHERE j.kind = 'validation_reward') AS rewards,"
            "  (SELECT count(*) FROM journal_entries j JOIN e ON j.idempotency_key = 'validation:' || e.id"
            "   WHERE j.kind = 'validation_reward' AND e.status <> 'answered') AS rewards_unanswered",
            (prefix + "%",)).fetchone()
    assert row is not None
    checks = {k: int(v) for k, v in row.items()}
    checks["ledger_mismatches"] = len(report["mismatches"])
    checks["ok"] = int(
        checks["ledger_mismatches"] == 0 and checks["decisions"] == checks["submissions"]
        and checks["with_trail"] == checks["submissions"] and checks["repeated_trail"] == 0
        and checks["rewards"] == checks["answered"] and checks["rewards_unanswered"] == 0)
    return checks


def summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": round(max(values), 1) if values else None,
        "mean": round(statistics.fmean(values), 1) if values else None,
    }


def pgbench(args: list[str], url: str) -> str:
    done = subprocess.run([str(PGBENCH), *args, url], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout + done.stderr


def run_pgbench(url: str, seconds: int, clients: int) -> dict[str, Any]:
    out = pgbench(["-c", str(clients), "-j", str(min(clients, 4)), "-T", str(seconds)], url)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    latency = re.search(r"latency average = ([0-9.]+) ms", out)
    return {"clients": clients, "seconds": seconds, "tps": round(float(tps.group(1)), 1) if tps else None,
            "latency_avg_ms": float(latency.group(1)) if latency else None}


def server_facts(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        def setting(name: str) -> str:
            row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            return str(row[0]) if row else "?"

        return {"server_version": setting("server_version"), "fsync": setting("fsync"),
                "synchronous_commit": setting("synchronous_commit")}


def markdown(result: dict[str, Any]) -> str:
    meta, goal = result["meta"], result["goal"]

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f} ms"

    lines = [
        "# Peer consensus: latency and throughput beside pgbench", "",
        f"{meta['when']}, {meta['cpus']} CPUs (shared, loaded: load average {meta['load_before']} before, "
        f"{meta['load_after']} after), PostgreSQL {meta['server_version']}, fsync={meta['fsync']}, "
        f"synchronous_commit={meta['synchronous_commit']}. Local dispatcher with N consumers per queue, "
        f"offline Layer B, {meta['validators']} validators, {meta['answer_threads']} answering threads; "
        "pgbench TPC-B -s 5 with -c = consumers just before each burst.", "",
        "| scenario | consumers | submissions | decided by peers | latency p50 | latency p95 | stage p50 "
        "| stage p95 | peer decisions/s | pgbench tps | statements/decision | transactions/decision "
        "| server CPU ms/decision | invariants |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["scenarios"]:
        lat, stage = run["latency_ms"], run["stage_ms"]
        pace = "all at once" if run["rate_per_s"] is None else f"{run['rate_per_s']:g}/s"
        lines.append(
            f"| {run['scenario']} ({pace}) | {run['consumers']} | {run['submissions']} | {run['peer_decisions']} "
            f"| {ms(lat['p50'])} | {ms(lat['p95'])} | {ms(stage['p50'])} | {ms(stage['p95'])} "
            f"| {run['decisions_per_second']} | {run.get('pgbench_tps', 'n/a')} | {run['statements_per_decision']} "
            f"| {run['transactions_per_decision']} | {run['server_cpu_ms_per_decision']} "
            f"| {'ok' if run['checks']['ok'] else 'FAILED ' + json.dumps(run['checks'])} |")
    lines += [
        "",
        "Latency: from the quorum-completing answer to the decision applied with all its work (scores, "
        "tiers, rewards, spot-check pick), as the consensus stage records it; it includes the consensus "
        "message's wait in the outbox. Stage: one consensus message's own time (handler start to commit). "
        "Peer decisions/s: over the wall time from the first submission to the last decision, through "
        "Layer A, Layer B (offline), routing, assignment, three answers and consensus. Statements and "
        "transactions per decision: everything from the submission to the settled rewards (idle polls "
        "that found nothing left out). Invariants: ledger verified clean, one decision and one consensus "
        "trail entry per submission, one reward per answered evaluation.",
        "",
        f"Goal at {goal['consumers']} consumers: >= pgbench tps / 15 ({goal['needed']}) decisions/s and "
        f"consensus p95 < 1 s: **{goal['verdict']}** ({goal['decisions_per_second']} decisions/s, p95 "
        f"{ms(goal['p95_ms'])}). Every submission decided: "
        f"**{all(r['pending_at_end'] == 0 for r in result['scenarios'])}**.",
        "",
        "Statements per decision, most frequent first (at the goal's consumer count): "
        + "; ".join(f"`{k}` x{v}" for k, v in goal["top_statements"].items()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=200, help="submitted all at once (burst)")
    parser.add_argument("--consumers", default="1,4,8", help="consumers per queue, one burst each")
    parser.add_argument("--duplicates", type=int, default=100,
                        help="burst at the largest consumer count with every message delivered twice (0: skip)")
    parser.add_argument("--paced", type=int, default=100, help="submitted at --rate per second")
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--validators", type=int, default=30)
    parser.add_argument("--answer-threads", type=int, default=4)
    parser.add_argument("--pgbench-seconds", type=int, default=5)
    parser.add_argument("--out-dir", default="build/bench")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.consumers.split(",") if c]

    load_before = [round(x, 2) for x in os.getloadavg()]
    name = f"peerguard_bench_consensus_{uuid.uuid4().hex[:6]}"
    url = database.create_scratch_database(name)
    try:
        from chalicelib.db.migrate import migrate

        migrate(url)
        configure(url)
        server = ServerCpu(url)
        pgbench(["-i", "-s", "5", "-q"], url)
        path = PeerPath(args.validators, args.answer_threads)
        scenarios = []
        try:
            for consumers in levels:
                pg = run_pgbench(url, args.pgbench_seconds, consumers)
                path.start_dispatcher(consumers)
                run = path.scenario(f"burst-c{consumers}", args.submissions, None, server=server, consumers=consumers)
                path.stop_dispatcher()
                run["pgbench_tps"] = pg["tps"]
                scenarios.append(run)
                print(progress(run), flush=True)
            if args.duplicates:
                path.start_dispatcher(max(levels), duplicate=True)
                scenarios.append(path.scenario("burst-twice", args.duplicates, None, server=server,
                                               consumers=max(levels)))
                print(progress(scenarios[-1]), flush=True)
            if args.paced:
                path.start_dispatcher(max(levels))
                scenarios.append(path.scenario("paced", args.paced, args.rate, server=server, consumers=max(levels)))
                print(progress(scenarios[-1]), flush=True)
        finally:
            path.close()
        from chalicelib.db.pool import close_pool

        close_pool()
        target = next(r for r in scenarios if r["scenario"] == f"burst-c{max(levels)}")
        needed = round((target["pgbench_tps"] or 0) / 15, 1)
        p95 = target["latency_ms"]["p95"]
        met = (target["decisions_per_second"] or 0) >= needed and p95 is not None and p95 < 1000
        result = {
            "meta": {"when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                     "python": platform.python_version(), "validators": args.validators,
                     "answer_threads": args.answer_threads, "load_before": load_before,
                     "load_after": [round(x, 2) for x in os.getloadavg()], **server_facts(url)},
            "scenarios": scenarios,
            "goal": {"consumers": max(levels), "needed": needed, "decisions_per_second": target["decisions_per_second"],
                     "p95_ms": p95, "verdict": "met" if met else "missed", "top_statements": target["top_statements"]},
        }
    finally:
        database.drop_database(name)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "consensus.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "consensus.md").write_text(markdown(result))
    sys.stdout.write(markdown(result))
    ok = all(r["pending_at_end"] == 0 and r["checks"]["ok"] for r in scenarios)
    return 0 if ok else 1


def progress(run: dict[str, Any]) -> str:
    return (f"{run['scenario']:12s} c={run['consumers']:<2d} {run['decisions_per_second']} decisions/s, latency p95 "
            f"{run['latency_ms']['p95']} ms, {run['statements_per_decision']} statements and "
            f"{run['transactions_per_decision']} transactions per decision, server CPU "
            f"{run['server_cpu_ms_per_decision']} ms/decision, pgbench {run.get('pgbench_tps')} tps, "
            f"checks {'ok' if run['checks']['ok'] else run['checks']}, answer errors {run['answer_errors']}")


if __name__ == "__main__":
    sys.exit(main())
