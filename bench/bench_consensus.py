"""Peer consensus latency and the throughput of the whole peer path, beside pgbench TPC-B.

Usage: python bench/bench_consensus.py [--submissions 200] [--paced 100] [--rate 5] [--validators 30]
       [--answer-threads 4] [--pgbench-seconds 8] [--out-dir build/bench]

In a scratch database of the configured PostgreSQL server (embedded by default): validators join
the pool, peer traffic is set to 100 %, and the local dispatcher (the in-process stand-in for SQS)
runs the guardrail and consensus stages exactly as `make run` does. Authors submit through the
submission use case; answer threads play the validators, giving exactly three answers per
submission through the evaluation use case, so the third answer completes the quorum and queues
the consensus message. Two scenarios: a burst (every submission at once: the queue builds up) and
a paced stream (below the path's throughput: the steady state).

Measured per scenario:
- consensus latency: from the quorum-completing answer (its time is stamped on the review) to the
  decision applied with all its work (scores, tiers, rewards, spot-check pick), as the consensus
  stage records it in ``consensus_decisions.latency_ms``; it includes the wait in the outbox;
- the consensus stage's own time per message (handler start to commit);
- peer decisions per second over the wall time from the first submission to the last decision
  (Layer A, Layer B offline, routing, assignment, three answers, consensus: the whole path);
and once: pgbench's built-in TPC-B (-s 5) tps on the same database, in the same run.

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
        from local.dispatcher import Dispatcher, LocalSender
        from local.handlers import local_handlers

        self.validators = [self.principal(f"validator-{i}") for i in range(n_validators)]
        validators.backfill(bootstrap.unit_of_work())
        self.authors = [self.principal(f"author-{i}") for i in range(10)]  # after the backfill: no validators
        self.answer_threads = answer_threads
        # Layer A builds its matchers on first use: warm it up before anything is measured.
        submit_content(bootstrap.unit_of_work(), self.authors[0], SubmissionDraft(kind="problem", title="warm-up",
                                                                                  body="warm-up text"))
        with transaction() as conn:
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
        self.sender = LocalSender(local_handlers())
        bootstrap.install_sender(self.sender)
        self.dispatcher = Dispatcher(self.sender, idle_sleep_s=0.005)
        self.dispatcher.start()
        self.answered: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    @staticmethod
    def principal(name: str) -> Any:
        from chalicelib.services import agents

        reg = agents.register_agent(bootstrap.unit_of_work(), kind="agent", name=name, description="", caller=None)
        return agents.authenticate(bootstrap.unit_of_work(), f"Bearer {reg.api_key}")

    def close(self) -> None:
        from chalicelib import bootstrap

        self.dispatcher.stopped.set()
        self.dispatcher.join(timeout=10)
        bootstrap.install_sender(None)

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

    def scenario(self, name: str, n_submissions: int, rate_per_s: float | None) -> dict[str, Any]:
        """Submit ``n_submissions`` (all at once, or paced at ``rate_per_s``) and wait for every decision."""
        from chalicelib.db.pool import transaction
        from chalicelib.services.submissions import SubmissionDraft, submit_content

        stop = threading.Event()
        stage_before = len(self.stage_ms)

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
        return {
            "scenario": name,
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
    pgbench(["-i", "-s", "5", "-q"], url)
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
    pg, meta = result["pgbench"], result["meta"]

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f} ms"

    lines = [
        "# Peer consensus: latency and throughput beside pgbench", "",
        f"{meta['when']}, {meta['cpus']} CPUs, PostgreSQL {meta['server_version']}, fsync={meta['fsync']}, "
        f"synchronous_commit={meta['synchronous_commit']}. Local dispatcher (one thread, as `make run`), "
        f"offline Layer B, {meta['validators']} validators, {meta['answer_threads']} answering threads.", "",
        "| scenario | submissions | decided by peers | latency p50 | latency p95 | stage p50 | stage p95 "
        "| peer decisions/s | pgbench TPC-B tps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["scenarios"]:
        lat, stage = run["latency_ms"], run["stage_ms"]
        pace = "all at once" if run["rate_per_s"] is None else f"{run['rate_per_s']:g}/s"
        lines.append(
            f"| {run['scenario']} ({pace}) | {run['submissions']} | {run['peer_decisions']} | {ms(lat['p50'])} "
            f"| {ms(lat['p95'])} | {ms(stage['p50'])} | {ms(stage['p95'])} | {run['decisions_per_second']} "
            f"| {pg['tps']} |")
    worst = max((r["latency_ms"]["p95"] or 0) for r in result["scenarios"])
    lines += [
        "",
        "Latency: from the quorum-completing answer to the decision applied with all its work (scores, "
        "tiers, rewards, spot-check pick), as the consensus stage records it; it includes the consensus "
        "message's wait in the outbox behind guardrail messages. Stage: one consensus message's own time "
        "(handler start to commit). Peer decisions/s: over the wall time from the first submission to the "
        "last decision, through Layer A, Layer B (offline), routing, assignment, three answers and "
        f"consensus. pgbench: built-in TPC-B, -s 5, {pg['clients']} clients, {pg['seconds']} s, same "
        "database, same run.",
        "",
        f"Decision gate consensus p95 < 15 s: **{'met' if worst < 15000 else 'not met'}** (worst p95 "
        f"{ms(worst)}). Every submission decided: **{all(r['pending_at_end'] == 0 for r in result['scenarios'])}**.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=200, help="submitted all at once (burst)")
    parser.add_argument("--paced", type=int, default=100, help="submitted at --rate per second")
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--validators", type=int, default=30)
    parser.add_argument("--answer-threads", type=int, default=4)
    parser.add_argument("--pgbench-seconds", type=int, default=8)
    parser.add_argument("--pgbench-clients", type=int, default=4)
    parser.add_argument("--out-dir", default="build/bench")
    args = parser.parse_args(argv)

    name = f"peerguard_bench_consensus_{uuid.uuid4().hex[:6]}"
    url = database.create_scratch_database(name)
    try:
        from chalicelib.db.migrate import migrate

        migrate(url)
        configure(url)
        path = PeerPath(args.validators, args.answer_threads)
        try:
            scenarios = [
                path.scenario("burst", args.submissions, None),
                path.scenario("paced", args.paced, args.rate),
            ]
        finally:
            path.close()
        from chalicelib.db.pool import close_pool

        close_pool()
        pg = run_pgbench(url, args.pgbench_seconds, args.pgbench_clients)
        result = {
            "meta": {"when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                     "python": platform.python_version(), "validators": args.validators,
                     "answer_threads": args.answer_threads, **server_facts(url)},
            "scenarios": scenarios,
            "pgbench": pg,
        }
    finally:
        database.drop_database(name)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "consensus.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "consensus.md").write_text(markdown(result))
    sys.stdout.write(markdown(result))
    return 0 if all(r["pending_at_end"] == 0 for r in scenarios) else 1


if __name__ == "__main__":
    sys.exit(main())
