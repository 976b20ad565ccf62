"""Exports: a million decisions as CSV and JSON, streamed and as an export job, time and peak memory,
beside a tenth of them.

Usage: python bench/bench_exports.py [--rows 1000000] [--out-dir build/bench]

A scratch database of the local PostgreSQL is migrated and seeded with --rows decided submissions
(one agent, realistic titles and bodies with commas, quotes and line breaks) with COPY. Each export
then runs in a fresh child process, so that its peak resident memory (ru_maxrss) is its own:

- `service`: `services.exports.stream` (server-side cursor -> encoder), chunks counted and dropped;
- `http`: the same export through the local HTTP front's WSGI application (`local.wsgi.ChaliceWSGI`,
  route, admin authentication, the streamed hand-off), chunks consumed as waitress would send them
  (the export-job threshold raised above the export's size, so that the route streams it);
- `accept`: the same request with the default threshold: the route estimates the export (an index
  count and 200 encoded rows) and answers 202 with a job; the time to that answer;
- `job`: the export as an export job (`services.export_jobs.run_job`, what the export_job worker
  runs): keyset pages of 5,000 rows, 8 MiB parts, a checkpoint per part, into the multipart upload of
  the local export store (part files on disk; S3's calls are the only difference), in one run.

The job's file is checked against the streamed export (SHA-256 of the bytes, same filter).

Each child first reports its resident memory after imports and a first database round trip (the
baseline), then exports and reports time, rows, bytes and peak memory. Memory that stays flat from
a tenth of the rows to all of them is what "constant memory" means. Results go to
build/bench/exports.json and build/bench/exports.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 1, 15)
SPREAD_DAYS = 10  # the rows are spread evenly over ten days: one day is a tenth of them


def rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def seed(url: str, rows: int) -> float:
    """COPY `rows` decided submissions spread evenly over ten days from DAY; seconds taken."""
    import psycopg

    agent = uuid.uuid4()
    start = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO agents (id, kind, name, owner_id) VALUES (%s, 'agent', 'bulk', %s)",
                     (agent, uuid.uuid4()))
        base = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
        with conn.cursor() as cur, cur.copy(
            "COPY submissions (id, agent_id, kind, title, body, content_hash, status, decided_by, route_path,"
            " created_at, decided_at, cost_millicredits) FROM STDIN"
        ) as copy:
            for i in range(rows):
                created = base + timedelta(seconds=i * SPREAD_DAYS * 86_400 / rows)
                copy.write_row((
                    uuid.uuid4(), agent, ("problem", "solution", "debate")[i % 3],
                    f'Pump {i}, "north" well needs a new seal',
                    f"The hand pump at well {i} leaks; villagers walk 3 km, twice a day.\nA seal kit costs 12 EUR.",
                    f"{i:064x}", "approved" if i % 7 else "rejected", "peer" if i % 3 else "layer_b",
                    "peer" if i % 3 else "layer_b", created, created + timedelta(seconds=30), 2000,
                ))
        conn.execute("ANALYZE submissions")
    return time.monotonic() - start


def child(mode: str, url: str, fmt: str, days: int) -> dict[str, Any]:
    """One export in this process: baseline memory, then time, rows, bytes and peak memory."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("STAGE", "test")
    os.environ["DISPATCH_MODE"] = "local"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    from chalicelib import bootstrap
    from chalicelib.domain import exports as rules
    from chalicelib.services import exports as service

    request = service.ExportRequest(kind="decisions", fmt=fmt, start=DAY,  # type: ignore[arg-type]
                                    end=DAY + timedelta(days=days - 1))
    if mode == "http":  # the streamed path: a threshold above the export's size
        os.environ["EXPORT_JOB_THRESHOLD_BYTES"] = str(1024**3)
    if mode in ("http", "accept"):
        from chalice.cli.factory import CLIFactory

        from app import app
        from chalicelib.services.agents import create_admin_key
        from local.wsgi import ChaliceWSGI

        key = create_admin_key(bootstrap.unit_of_work(), label="bench")
        front = ChaliceWSGI(app, CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="local"), 262_144)
    else:
        with bootstrap.unit_of_work() as uow:
            uow.health.ping()
    job_id = None
    if mode == "job":
        job_id = _queue_job(url, request)
    baseline = rss_mib()
    tally = rules.Tally()
    largest = 0
    digest = hashlib.sha256()
    extra: dict[str, Any] = {}
    start = time.monotonic()
    if mode in ("http", "accept"):
        status: list[str] = []
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/admin/exports/decisions",
                   "QUERY_STRING": f"from={request.start}&to={request.end}&format={fmt}",
                   "wsgi.input": io.BytesIO(), "HTTP_AUTHORIZATION": f"Bearer {key}",
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80"}
        body = front(environ, lambda s, h: status.append(s))
        answer = bytearray()
        try:
            for chunk in body:
                tally.bytes += len(chunk)
                tally.rows += chunk.count(b"\r\n")  # chunks end at record ends
                largest = max(largest, len(chunk))
                if mode == "accept":
                    answer.extend(chunk)
                else:
                    digest.update(chunk)
        finally:
            if hasattr(body, "close"):  # a streamed body; an answer in one piece is a list
                body.close()
        if mode == "accept":
            assert status[0].startswith("202"), status
            job = json.loads(answer)["data"]
            extra = {"estimated_rows": job["estimated_rows"], "estimated_bytes": job["estimated_bytes"]}
            tally.rows, tally.bytes = 0, 0
        else:
            assert status[0].startswith("200"), status
            tally.rows -= 1  # the header line
    elif mode == "job":
        from chalicelib.adapters.job_locks import AdvisoryJobLocks
        from chalicelib.services import export_jobs

        assert job_id is not None
        outcome = export_jobs.run_job(bootstrap.unit_of_work(), bootstrap.export_store(), AdvisoryJobLocks(), job_id,
                                      time_left=lambda: 900.0)
        seconds_run = time.monotonic() - start
        with bootstrap.unit_of_work() as uow:
            row = uow.export_jobs.get(job_id)
        assert outcome == "succeeded" and row is not None, outcome
        tally.rows, tally.bytes = int(row["rows"]), int(row["bytes"])
        for chunk in bootstrap.export_store().read(row["object_key"]):
            digest.update(chunk)
        from chalicelib.config import get_settings

        (ROOT / get_settings().export_dir / row["object_key"]).unlink()
        extra = {"parts": len(row["parts"]), "run_seconds": round(seconds_run, 2)}
    else:
        for chunk in service.stream(bootstrap.unit_of_work(), request, tally):
            largest = max(largest, len(chunk))
            digest.update(chunk)
    seconds = extra.pop("run_seconds", None) or time.monotonic() - start
    return {"mode": mode, "format": fmt, "days": days, "rows": tally.rows, "bytes": tally.bytes,
            "seconds": round(seconds, 2), "rows_per_s": round(tally.rows / seconds) if seconds else None,
            "baseline_rss_mib": round(baseline, 1), "peak_rss_mib": round(rss_mib(), 1),
            "growth_mib": round(rss_mib() - baseline, 1), "largest_chunk_bytes": largest,
            "sha256": digest.hexdigest() if mode != "accept" else None, **extra}


def _queue_job(url: str, request: Any) -> Any:
    """A queued job for the request, asked by a bench admin key (the worker's part is what is measured)."""
    import psycopg

    from chalicelib import bootstrap
    from chalicelib.domain.principal import Principal
    from chalicelib.services import export_jobs
    from chalicelib.services.agents import create_admin_key

    create_admin_key(bootstrap.unit_of_work(), label="bench")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT id FROM api_keys WHERE role = 'admin' ORDER BY created_at DESC LIMIT 1").fetchone()
    assert row is not None
    admin = Principal(key_id=row[0], role="admin", agent_id=None, owner_id=None, agent_kind=None)
    return export_jobs.start_job(bootstrap.unit_of_work(), admin, request)["id"]


def run_child(mode: str, url: str, fmt: str, days: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, url, fmt, str(days)], cwd=ROOT,
                         check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, child_mode, child_url, child_fmt, child_days = sys.argv
        print(json.dumps(child(child_mode, child_url, child_fmt, int(child_days))))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out-dir", default=str(ROOT / "build" / "bench"))
    args = parser.parse_args()
    from chalicelib.db.migrate import migrate
    from local import database

    name = f"peerguard_bench_exports_{os.getpid()}"
    url = database.create_scratch_database(name)
    try:
        migrate(url)
        seed_s = seed(url, args.rows)
        all_days, tenth_days = SPREAD_DAYS, 1
        runs = []
        load_before = os.getloadavg()
        for mode, fmt, days in (("service", "csv", tenth_days), ("service", "csv", all_days),
                                ("service", "json", all_days), ("http", "csv", all_days),
                                ("accept", "csv", all_days), ("job", "csv", tenth_days),
                                ("job", "csv", all_days), ("job", "json", all_days)):
            result = run_child(mode, url, fmt, days)
            print(json.dumps(result), flush=True)
            runs.append(result)
        load_after = os.getloadavg()
    finally:
        database.drop_database(name)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {"rows_seeded": args.rows, "seed_copy_s": round(seed_s, 1), "runs": runs,
              "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
              "python": platform.python_version(), "at": datetime.now(UTC).isoformat()}
    (out / "exports.json").write_text(json.dumps(report, indent=2))
    streamed = {(r["format"], r["days"]): r["sha256"] for r in runs if r["mode"] == "service"}
    lines = [f"Seeded {args.rows:,} decided submissions with COPY in {seed_s:.1f} s; load average "
             f"{load_before[0]:.1f} before, {load_after[0]:.1f} after ({os.cpu_count()} CPUs, shared machine).", "",
             "| path | format | rows | MB | seconds | rows/s | baseline RSS MiB | peak RSS MiB | growth MiB | notes |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        if r["mode"] == "accept":
            note = f"202 with a job; estimated {r['estimated_rows']:,} rows, {r['estimated_bytes'] / 1e6:.1f} MB"
        elif r["mode"] == "job":
            same = r["sha256"] == streamed.get((r["format"], r["days"]))
            note = f"{r['parts']} parts; file {'identical to' if same else 'DIFFERS from'} the streamed export"
        else:
            note = ""
        lines.append(f"| {r['mode']} | {r['format']} | {r['rows']:,} | {r['bytes'] / 1e6:.1f} | {r['seconds']} | "
                     f"{r['rows_per_s']:,} | {r['baseline_rss_mib']} | {r['peak_rss_mib']} | {r['growth_mib']} | "
                     f"{note} |")
    (out / "exports.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
