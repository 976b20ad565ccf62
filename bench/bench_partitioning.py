"""Does partitioning by time pay? Measured on the seeded growth database, on a copy of decision_trail.

Usage: python -m bench.bench_partitioning [--database peerguard_growth] [--lookups 200]
       [--out-dir bench/results/growth]

decision_trail is the one append-heavy table whose only uniqueness is its own id, so it is the
safe candidate (see docs/scaling.md for why evaluations, journal legs and processed messages are
not). A copy partitioned by month on created_at is built beside the plain table, with the same
index, and both are measured in the same run:

- the hot read: a submission's trail by submission_id (every GET /v1/submissions/{id}), which does
  not carry the partition key, so it probes every partition;
- retention: deleting the rows older than 60 days (in a transaction rolled back) against dropping
  the partitions that hold them.

The copy is dropped at the end. JSON and markdown go to ``--out-dir`` as partitioning.json / .md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, -(-int(q) * len(ordered) // 100) - 1))], 3)


def months(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    first = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = []
    while first <= end:
        nxt = (first + timedelta(days=32)).replace(day=1)
        out.append((first, nxt))
        first = nxt
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database", default="peerguard_growth")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--out-dir", default="bench/results/growth")
    args = parser.parse_args(argv)
    from local import database

    url = database.server_url(args.database)
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    with psycopg.connect(url, autocommit=True) as conn:
        span = conn.execute("SELECT min(created_at), max(created_at), count(*) FROM decision_trail").fetchone()
        assert span is not None
        start, end, rows = span
        result["rows"] = int(rows)
        conn.execute("DROP TABLE IF EXISTS decision_trail_part")
        conn.execute("CREATE TABLE decision_trail_part (LIKE decision_trail INCLUDING DEFAULTS)"
                     " PARTITION BY RANGE (created_at)")
        ranges = months(start, end)
        for lo, hi in ranges:
            conn.execute(f"CREATE TABLE decision_trail_part_{lo:%Y%m} PARTITION OF decision_trail_part"
                         f" FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')")
        t0 = time.monotonic()
        conn.execute("INSERT INTO decision_trail_part SELECT * FROM decision_trail")
        conn.execute("CREATE INDEX ON decision_trail_part (submission_id, id)")
        conn.execute("ANALYZE decision_trail_part")
        result["copy_seconds"] = round(time.monotonic() - t0, 1)
        result["partitions"] = len(ranges)
        ids = [r[0] for r in conn.execute(
            "SELECT submission_id FROM decision_trail TABLESAMPLE SYSTEM (0.5) LIMIT %s", (args.lookups,))]
        random.Random(15).shuffle(ids)
        timings: dict[str, list[float]] = {"plain": [], "partitioned": []}
        for sid in ids:  # alternate, so both see the same machine
            for table, key in (("decision_trail", "plain"), ("decision_trail_part", "partitioned")):
                t0 = time.perf_counter()
                conn.execute(f"SELECT * FROM {table} WHERE submission_id = %s ORDER BY id", (sid,)).fetchall()
                timings[key].append((time.perf_counter() - t0) * 1000)
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM decision_trail_part WHERE submission_id = %s"
                            " ORDER BY id", (ids[0],)).fetchall()
        result["lookup_ms"] = {k: {"p50": p(v, 50), "p95": p(v, 95)} for k, v in timings.items()}
        result["lookup_plan_partitioned"] = [r[0] for r in plan]
        cutoff = end - timedelta(days=60)
        old = [lo for lo, hi in ranges if hi <= cutoff]
        with conn.transaction(force_rollback=True):
            t0 = time.monotonic()
            deleted = conn.execute("DELETE FROM decision_trail WHERE created_at < %s", (cutoff,)).rowcount
            result["retention_delete"] = {"rows": deleted, "seconds": round(time.monotonic() - t0, 2),
                                          "note": "rolled back; VACUUM work afterwards not counted"}
        dropped = 0
        for lo in old:
            n = conn.execute(f"SELECT count(*) FROM decision_trail_part_{lo:%Y%m}").fetchone()
            dropped += int(n[0]) if n else 0
        t1 = time.monotonic()
        for lo in old:
            conn.execute(f"DROP TABLE decision_trail_part_{lo:%Y%m}")
        result["retention_drop"] = {"partitions": len(old), "rows": dropped,
                                    "seconds": round(time.monotonic() - t1, 3)}
        conn.execute("DROP TABLE decision_trail_part")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "partitioning.json").write_text(json.dumps(result, indent=2, default=str))
    lk = result["lookup_ms"]
    md = "\n".join([
        "# Partitioning decision_trail by month: measured", "",
        f"{result['when']}; {result['rows']:,} rows in {result['partitions']} monthly partitions (copy built in "
        f"{result['copy_seconds']} s). Same run, alternating, loaded shared machine.", "",
        "| measure | plain table | partitioned |", "|---|---|---|",
        f"| trail of one submission, p50 / p95 ms | {lk['plain']['p50']} / {lk['plain']['p95']} "
        f"| {lk['partitioned']['p50']} / {lk['partitioned']['p95']} |",
        f"| retention: rows older than 60 days | DELETE {result['retention_delete']['rows']:,} rows: "
        f"{result['retention_delete']['seconds']} s (+ vacuum) | DROP {result['retention_drop']['partitions']} "
        f"partition(s), {result['retention_drop']['rows']:,} rows: {result['retention_drop']['seconds']} s |",
        "",
    ]) + "\n"
    (out / "partitioning.md").write_text(md)
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
