"""`make bench`: run every benchmark, each in its own process, then gather one report.

Each benchmark writes build/bench/<name>.json and <name>.md and prints its side-by-side comparison;
this runner adds build/bench/report.json (all results, with run times and exit codes) and report.md.
The benchmarks run with POWERTOOLS_METRICS_DISABLED=true and POWERTOOLS_LOG_LEVEL=WARNING (unless set
otherwise) so that no EMF metric line or INFO log lands between their tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"
CROWD = ROOT.parent / "shared" / "data" / "crowd"

BENCHMARKS: list[tuple[str, list[str]]] = [
    ("layer_a", ["bench/bench_layer_a.py"]),
    ("ledger", ["bench/bench_ledger.py"]),
    ("ingest", ["bench/bench_ingest.py", "--http"]),
    ("consensus", ["bench/bench_consensus.py"]),
    ("privacy", ["bench/bench_privacy.py"]),
    ("dsar", ["bench/bench_dsar.py"]),
    ("query_timing", ["bench/bench_query_timing.py"]),
    ("pii_masking", ["bench/bench_pii_masking.py"]),
    ("exports", ["bench/bench_exports.py"]),
]


def bench_environment() -> dict[str, str]:
    """The benchmarks' environment: metrics off and logs from warnings up (their lines would interleave
    with the tables)."""
    return {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING", **os.environ}


def main(argv: list[str] | None = None) -> int:
    only = set(argv if argv is not None else sys.argv[1:])
    runs = list(BENCHMARKS)
    if (CROWD / "temp_answers.csv").exists():
        runs.append(("consensus_replay_temp_answers", ["bench/consensus_replay.py", str(CROWD / "temp_answers.csv"),
                                          str(CROWD / "temp_gold.csv")]))
    OUT.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"started_at": datetime.now(UTC).isoformat(), "benchmarks": {}}
    failures = 0
    for name, command in runs:
        if only and name not in only:
            continue
        print(f"\n=== {name} ===", flush=True)
        start = time.monotonic()
        proc = subprocess.run([sys.executable, *command], cwd=ROOT, check=False, env=bench_environment())
        elapsed = round(time.monotonic() - start, 1)
        result_file = OUT / f"{name}.json"
        results = json.loads(result_file.read_text()) if result_file.exists() else None
        report["benchmarks"][name] = {  # type: ignore[index]
            "exit_code": proc.returncode, "seconds": elapsed, "results": results,
        }
        failures += proc.returncode != 0
    (OUT / "report.json").write_text(json.dumps(report, indent=2, default=str))
    lines = ["# Benchmark report", "", f"Run at {report['started_at']}.", ""]
    for name, entry in report["benchmarks"].items():  # type: ignore[attr-defined]
        md = OUT / f"{name}.md"
        lines += [f"## {name} ({entry['seconds']} s, exit {entry['exit_code']})", ""]
        lines += [md.read_text().strip(), ""] if md.exists() else ["(no markdown written)", ""]
    (OUT / "report.md").write_text("\n".join(lines))
    print(f"\nreport: {OUT / 'report.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
