"""Every query the service runs, at production-like volume: p95 per query and its plan.

Usage: python -m bench.bench_growth [--database peerguard_growth] [--runs 15] [--label after]
       [--out-dir bench/results/growth]

Against a database filled by ``python -m bench.seed_growth`` (1 M submissions, 6 M evaluations,
10 M journal legs, 100 k agents at scale 1), each use case of the catalogue below runs through the
real service and repository code (``bootstrap.unit_of_work()``), ``--runs`` times after one warm-up:
the API's reads and writes (an agent's profile, credits, submissions, pending evaluations, answers,
submitting), the operators' dashboard and worker health, the alert engine, the decision gates,
shadow and collusion reports, economy overview and snapshot, the review queue, every scheduled job
and the ledger verification (the export of the whole journal).

Every statement psycopg executes is recorded with its duration, so the report gives p95 per
statement as well as per use case; each distinct statement is then run once more under
``EXPLAIN (ANALYZE, BUFFERS)`` (inside a transaction rolled back, with the parameters of its last
run), and any sequential scan over a table of more than 100 k rows is flagged. JSON (with full
plans) and markdown go to ``--out-dir`` as growth-<label>.json / .md; with both a ``before`` and an
``after`` file present, growth.md shows them side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BIG_TABLE_ROWS = 100_000
_SPACES = re.compile(r"\s+")


class Recorder:
    """Times every statement psycopg executes while a use case is labelled."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.statements: dict[str, dict[str, Any]] = {}  # key: label + normalised SQL
        self.lock = threading.Lock()

    def install(self) -> None:
        original = psycopg.Cursor.execute
        recorder = self

        def execute(cur: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            label = recorder.label
            if label is None:
                return original(cur, query, params, **kwargs)
            t0 = time.perf_counter()
            try:
                return original(cur, query, params, **kwargs)
            finally:
                ms = (time.perf_counter() - t0) * 1000
                text = query.as_string(cur.connection) if isinstance(query, psycopg.sql.Composable) else (
                    query.decode() if isinstance(query, bytes) else str(query))
                key = f"{label}\x00{_SPACES.sub(' ', text).strip()}"
                with recorder.lock:
                    entry = recorder.statements.setdefault(key, {"label": label, "sql": text, "ms": []})
                    entry["ms"].append(ms)
                    entry["params"] = params

        psycopg.Cursor.execute = execute  # type: ignore[method-assign, assignment]


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))], 2)


def p50(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[(len(ordered) - 1) // 2], 2)


@dataclass
class Sample:
    """Ids picked from the seeded data: a busy author, a typical one, a validator with open work."""

    busy: Any
    typical: Any
    validator: Any
    submission_id: uuid.UUID
    validator_ids: list[uuid.UUID]
    api_key: str


def principal(agent_id: uuid.UUID, owner_id: uuid.UUID) -> Any:
    from chalicelib.domain.principal import Principal

    return Principal(key_id=uuid.uuid4(), role="agent", agent_id=agent_id, owner_id=owner_id, agent_kind="agent")


def pick(url: str) -> Sample:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        busy = conn.execute(
            "SELECT s.agent_id, count(*) FROM submissions s JOIN agents a ON a.id = s.agent_id AND a.status = 'active'"
            " WHERE s.created_at > now() - interval '7 days' GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        assert busy is not None
        typical = conn.execute(
            "SELECT agent_id FROM submissions TABLESAMPLE SYSTEM (1) LIMIT 1").fetchone()
        open_work = conn.execute(
            "SELECT validator_id, count(*) FROM evaluations WHERE status = 'pending'"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchone()
        sub = conn.execute("SELECT id FROM submissions WHERE agent_id = %s ORDER BY created_at DESC LIMIT 1",
                           (busy["agent_id"],)).fetchone()
        validators = [r["validator_id"] for r in conn.execute(
            "SELECT DISTINCT validator_id FROM evaluations WHERE status = 'pending' LIMIT 50")]
        from chalicelib.domain import api_keys

        key = api_keys.generate()  # one real key (the seeded ones have no known plaintext)
        conn.execute("INSERT INTO api_keys (id, prefix, key_hash, role, agent_id, label) VALUES (%s, %s, %s, 'agent',"
                     " %s, 'growth bench')", (uuid.uuid4(), key.prefix, key.key_hash, busy["agent_id"]))
    assert busy and typical and open_work and sub
    return Sample(principal(busy["agent_id"], busy["agent_id"]), principal(typical["agent_id"], typical["agent_id"]),
                  principal(open_work["validator_id"], open_work["validator_id"]), sub["id"], validators,
                  key.plaintext)


UseCase = tuple[str, str, Callable[[Sample], Any], int]  # name, area, call, runs divisor


def catalogue() -> list[UseCase]:
    from chalicelib import bootstrap
    from chalicelib.entrypoints import schedules
    from chalicelib.services import (
        agents,
        alerts,
        compliance,
        credits,
        economy,
        evaluations,
        layer_b_service,
        moderation,
        operations,
        review,
        spot_checks,
        submissions,
        validator_reports,
        validators,
    )
    from chalicelib.services.submissions import SubmissionDraft

    def uow() -> Any:
        return bootstrap.unit_of_work()

    counter = iter(range(10**9))

    def submit(s: Sample) -> Any:
        n = next(counter)
        return submissions.submit_content(uow(), s.typical, SubmissionDraft(
            kind="solution", title=f"Growth probe {n}", body=f"Repair the water pump in block {n} with volunteers.",
            domain="clean_water_sanitation"), idempotency_key=f"growth-{uuid.uuid4().hex}")

    def answer(s: Sample) -> Any:
        for vid in s.validator_ids:
            p = principal(vid, vid)
            rows = evaluations.pending_evaluations(uow(), p, limit=1, after=None)
            if rows:
                return evaluations.answer_evaluation(uow(), p, rows[0]["id"], evaluations.EvaluationAnswer(
                    decision="approve", confidence=0.9, reasoning="growth probe"))
        return None

    def authenticate(s: Sample) -> Any:
        return agents.authenticate(uow(), f"Bearer {s.api_key}")

    jobs = {job.name: job for job in schedules.JOBS}
    job_list = [(j.name, j.expression, j.every_seconds) for j in schedules.JOBS]
    cases: list[UseCase] = [
        ("authenticate (key lookup)", "api", authenticate, 1),
        ("agent profile (busy agent)", "api", lambda s: agents.get_agent_profile(uow(), s.busy.agent_id), 1),
        ("credits: balance + history (busy)", "api",
         lambda s: credits.balance_and_history(uow(), s.busy.agent_id, limit=50, before=None), 1),
        ("credits: balance + history (typical)", "api",
         lambda s: credits.balance_and_history(uow(), s.typical.agent_id, limit=50, before=None), 1),
        ("submissions: list mine (busy)", "api",
         lambda s: submissions.list_submissions(uow(), s.busy, limit=50, before=None, status=None), 1),
        ("submissions: list mine pending (busy)", "api",
         lambda s: submissions.list_submissions(uow(), s.busy, limit=50, before=None, status="pending"), 1),
        ("submissions: get one with trail", "api",
         lambda s: submissions.get_submission(uow(), s.busy, s.submission_id), 1),
        ("submit (Layer A, fee, trail, outbox)", "api", submit, 1),
        ("evaluations: pending (validator)", "api",
         lambda s: evaluations.pending_evaluations(uow(), s.validator, limit=50, after=None), 1),
        ("evaluations: answer", "api", answer, 1),
        ("validator stats", "api", lambda s: validators.validator_stats(uow(), s.validator.agent_id), 1),
        ("compliance (busy agent)", "api", lambda s: compliance.agent_compliance(uow(), s.busy.agent_id), 1),
        ("admin: agent record", "dashboard", lambda s: moderation.agent_record(uow(), s.busy.agent_id), 1),
        ("admin: dashboard (24 h)", "dashboard", lambda s: operations.dashboard(uow(), hours=24), 3),
        ("admin: worker health", "dashboard",
         lambda s: operations.worker_health(uow(), bootstrap.probes(), job_list), 1),
        ("admin: alerts list", "dashboard",
         lambda s: alerts.list_alerts(uow(), status=None, severity=None, rule=None, limit=50, before=None), 1),
        ("admin: open alerts", "dashboard",
         lambda s: alerts.list_alerts(uow(), status="open", severity=None, rule=None, limit=50, before=None), 1),
        ("admin: review queue", "dashboard",
         lambda s: review.list_items(uow(), status="pending", subject_type=None, limit=50, after=None), 1),
        ("admin: validators page", "dashboard",
         lambda s: validators.list_validators(uow(), limit=50, before=None), 1),
        ("admin: spot checks page", "dashboard",
         lambda s: spot_checks.list_spot_checks(uow(), limit=50, before=None, status=None, disagreement_only=False), 1),
        ("admin: spot-check stats (30 d)", "dashboard", lambda s: spot_checks.spot_check_stats(uow(), days=30), 1),
        ("admin: Layer B usage (30 d)", "dashboard", lambda s: layer_b_service.usage_summary(uow(), 30), 1),
        ("admin: economy overview (24 h, 30 d)", "economy",
         lambda s: economy.economy_overview(uow(), window_hours=24, days=30), 3),
        ("decision gates", "gates", lambda s: validator_reports.decision_gates(uow()), 3),
        ("shadow report (7 d)", "gates", lambda s: validator_reports.shadow_report(uow(), days=7), 1),
        ("collusion report (30 d)", "gates",
         lambda s: validator_reports.collusion_report(uow(), days=30, against_truth=False), 5),
        ("alert engine (one run)", "alerts", lambda s: schedules.run_alert_engine(), 3),
    ]
    def job_case(job: Any) -> Callable[[Sample], Any]:
        return lambda s: schedules.run_job(job)

    for name, job in jobs.items():
        if name != "alert_engine":  # measured above
            cases.append((f"job: {name}", "jobs", job_case(job), 3))
    cases.append(("export: ledger verify (API: checkpoint + tail)", "export",
                  lambda s: credits.verify_ledger(uow()), 15))
    return cases


def big_tables(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {r[0]: int(r[1]) for r in conn.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace ="
            " 'public'::regnamespace AND reltuples >= %s", (BIG_TABLE_ROWS,))}


def walk(node: dict[str, Any], out: list[dict[str, Any]]) -> None:
    out.append(node)
    for child in node.get("Plans", []):
        walk(child, out)


def explain(url: str, sql: str, params: Any, big: dict[str, int]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one statement, rolled back; the text plan and big sequential scans."""
    with psycopg.connect(url) as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("SET LOCAL statement_timeout = '120s'")
                rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
        except psycopg.Error:
            rows = None
        if rows is None:  # a write that cannot run twice with the same values: the estimated plan
            try:
                with conn.transaction(force_rollback=True):
                    rows = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
            except psycopg.Error as exc:
                return {"error": f"{type(exc).__name__}: {str(exc).strip()[:200]}"}
    assert rows is not None
    plan = rows[0][0]
    nodes: list[dict[str, Any]] = []
    walk(plan["Plan"], nodes)
    seq = sorted({n["Relation Name"] for n in nodes if n.get("Node Type") == "Seq Scan"
                  and n.get("Relation Name") in big})
    top = plan["Plan"]
    access = [f"{n['Node Type']} on {n.get('Index Name') or n.get('Relation Name')}" for n in nodes
              if n.get("Relation Name") or n.get("Index Name")]
    shared = sum(int(n.get("Shared Hit Blocks", 0)) + int(n.get("Shared Read Blocks", 0)) for n in nodes[:1])
    return {"execution_ms": plan.get("Execution Time"), "top": top["Node Type"], "access": access[:6],
            "big_seq_scans": seq, "buffers": shared, "plan": plan}


def run(url: str, runs: int, only: str | None, skip: list[str]) -> dict[str, Any]:
    from chalicelib import bootstrap
    from chalicelib.config import reset_settings

    os.environ.update({"DATABASE_URL": url, "DISPATCH_MODE": "local", "POWERTOOLS_METRICS_DISABLED": "true",
                       "POWERTOOLS_LOG_LEVEL": "ERROR", "TRUST_VERIFIED_MIN_AGE_DAYS": "0",
                       "TRUST_VERIFIED_MIN_APPROVALS": "0", "DB_POOL_MAX_SIZE": "2", "SLOW_QUERY_MS": "600000"})
    os.environ.pop("ANTHROPIC_API_KEY", None)
    reset_settings()
    bootstrap.reset()

    class Drop:
        def send(self, messages: Any) -> set[int]:
            return set()

    bootstrap.install_sender(Drop())  # messages "sent" and forgotten: no consumer runs in this benchmark
    sample = pick(url)
    big = big_tables(url)
    recorder = Recorder()
    recorder.install()
    cases = [c for c in catalogue() if (only is None or only in c[0]) and not any(x in c[0] for x in skip)]
    results: list[dict[str, Any]] = []
    for name, area, call, divisor in cases:
        n = max(2, runs // divisor)
        wall: list[float] = []
        error = None
        try:
            call(sample)  # warm-up, not recorded
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        for _ in range(n):
            recorder.label = name
            t0 = time.perf_counter()
            try:
                call(sample)
            except Exception as exc:  # reported, never fatal: one broken case must not hide the others
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            finally:
                wall.append((time.perf_counter() - t0) * 1000)
                recorder.label = None
        results.append({"name": name, "area": area, "runs": n, "p50_ms": p50(wall), "p95_ms": p95(wall),
                        "error": error, "statements": []})
        sys.stdout.write(f"{name}: p95 {p95(wall)} ms over {n} runs{' ERROR ' + error if error else ''}\n")
        sys.stdout.flush()
    by_case = {r["name"]: r for r in results}
    for entry in recorder.statements.values():
        sql = entry["sql"]
        if sql.lstrip().upper().startswith(("SET", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            continue
        plan = explain(url, sql, entry["params"], big)
        by_case[entry["label"]]["statements"].append({
            "sql": _SPACES.sub(" ", sql).strip(), "calls": len(entry["ms"]), "p95_ms": p95(entry["ms"]), **plan})
    return {"meta": {"when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                     "big_tables": big, "runs": runs},
            "cases": results}


def markdown(result: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    meta = result["meta"]
    sizes = ", ".join(f"{k} {v:,}" for k, v in sorted(meta["big_tables"].items(), key=lambda kv: -kv[1]))
    prior = {c["name"]: c for c in before["cases"]} if before else {}
    lines = [
        "# Growth: every query at production-like volume", "",
        f"{meta['when']}, {meta['cpus']} CPUs (shared with other work: absolute times are noisy; compare the "
        f"columns of one table). Tables over {BIG_TABLE_ROWS:,} rows: {sizes}.", "",
        "| use case | area | p95 ms" + (" before | p95 ms after" if before else "") + " | slowest statement: plan "
        "| seq scan on a big table |",
        "|---|---|---" + ("|---" if before else "") + "|---|---|",
    ]
    for c in result["cases"]:
        worst = max(c["statements"], key=lambda s: s["p95_ms"] or 0, default=None)
        plan = "; ".join(worst["access"][:3]) if worst and worst.get("access") else (worst or {}).get("top", "-")
        seq = sorted({t for s in c["statements"] for t in s.get("big_seq_scans", [])})
        seq_before = sorted({t for s in prior.get(c["name"], {}).get("statements", [])
                             for t in s.get("big_seq_scans", [])})
        seq_text = ", ".join(seq) or "none"
        if before:
            seq_text = f"{', '.join(seq_before) or 'none'} -> {seq_text}"
        p95_before = f" {prior.get(c['name'], {}).get('p95_ms', '-')} |" if before else ""
        lines.append(f"| {c['name']}{' (error: ' + c['error'] + ')' if c['error'] else ''} | {c['area']} |"
                     f"{p95_before} {c['p95_ms']} | {plan} | {seq_text} |")
    lines += ["", "## Statements", "", "| use case | statement | calls | p95 ms | plan (access paths) | big seq scan |",
              "|---|---|---|---|---|---|"]
    for c in result["cases"]:
        for s in sorted(c["statements"], key=lambda s: -(s["p95_ms"] or 0)):
            sql = s["sql"][:110].replace("|", "\\|")
            access = "; ".join(s.get("access", [])[:4]) or s.get("top") or s.get("error", "-")
            lines.append(f"| {c['name']} | `{sql}` | {s['calls']} | {s['p95_ms']} | {access} "
                         f"| {', '.join(s.get('big_seq_scans', [])) or '-'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database", default="peerguard_growth")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--label", default="after")
    parser.add_argument("--only", help="run the use cases whose name contains this text")
    parser.add_argument("--skip", action="append", default=[], help="leave out the use cases whose name contains this")
    parser.add_argument("--out-dir", default="bench/results/growth")
    args = parser.parse_args(argv)
    from local import database

    url = database.server_url(args.database)
    result = run(url, args.runs, args.only, args.skip)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"growth-{args.label}.json").write_text(json.dumps(result, indent=1, default=str))
    (out / f"growth-{args.label}.md").write_text(markdown(result))
    before_file = out / "growth-before.json"
    if args.label != "before" and before_file.exists():
        (out / "growth.md").write_text(markdown(result, json.loads(before_file.read_text())))
    sys.stdout.write(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
