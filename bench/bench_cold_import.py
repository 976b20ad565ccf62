"""Cold `import app` beside the bare import of its four frameworks, in the same run.

Usage: python bench/bench_cold_import.py [--runs 15] [--top 25] [--out-dir build/bench] [--compare DIR]

    # before/after in one run: main's sources beside this checkout's
    mkdir -p build/main && git archive main | tar -x -C build/main
    python bench/bench_cold_import.py --compare build/main

Every Lambda cold start pays `import app` (all functions share the package and the module). Each run is
a fresh interpreter, started as Lambda starts one: no DATABASE_URL, no AWS settings, the site packages of
this virtualenv, bytecode cached for everything (a warm-up import compiles a fresh checkout first). Two
programs alternate, run after run, so that a neighbour's burst on a shared machine hits both:

- baseline: ``import chalice, pydantic, psycopg, aws_lambda_powertools`` (the bare import the budget is
  written against), and a second, stricter baseline that also builds what any app of this stack
  touches (``chalice.Chalice``, ``pydantic.BaseModel``, ``psycopg.connect``, Powertools ``Logger`` and
  ``Metrics``);
- app: ``import app``.

Wall and CPU time are measured inside the child around the import only (interpreter start-up excluded);
CPU time is the steadier of the two on a loaded machine. The table gives medians; a ratio is the median of
the per-run ratios (each app import against the baseline just before it). The budget: app <= 2x the bare
baseline.

Then ``-X importtime`` (median over a few runs) says where the rest goes: every module of
``chalicelib.entrypoints`` (routes, workers, schedules), the API models, bootstrap, config and the
third-party packages, each with its self time and its cumulative time (a module's cumulative time
holds every module it was first to import). And each pydantic model's class build time (the metaclass
timed around every ``class X(BaseModel)`` of chalicelib while ``import app`` runs).

Results: build/bench/cold_import.json and build/bench/cold_import.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

BASELINES: dict[str, str] = {
    "bare": "import chalice, pydantic, psycopg, aws_lambda_powertools",
    "used": (
        "from chalice import Chalice\nfrom pydantic import BaseModel\nfrom psycopg import connect\n"
        "from aws_lambda_powertools import Logger, Metrics"
    ),
}
APP = "import app"

TIMED = """
import time
_t, _c = time.perf_counter(), time.process_time()
{code}
print("IMPORT_SECONDS", time.perf_counter() - _t, time.process_time() - _c)
"""

# Times the class build of every pydantic model defined in chalicelib while `import app` runs.
MODEL_TIMER = """
import json, time
from pydantic._internal import _model_construction as mc
spent = {}
original = mc.ModelMetaclass.__new__
def timed(mcs, name, bases, namespace, *args, **kwargs):
    start = time.perf_counter()
    cls = original(mcs, name, bases, namespace, *args, **kwargs)
    module = namespace.get("__module__", "")
    if module.startswith("chalicelib") or module == "app":
        spent[f"{module}.{name}"] = time.perf_counter() - start
    return cls
mc.ModelMetaclass.__new__ = timed
import app
print("MODELS", json.dumps(spent))
"""

IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def child_env() -> dict[str, str]:
    """Like a Lambda cold start: no database, no AWS settings. Bytecode is cached (a warm-up import writes
    it), for the app as for the site packages: the comparison is of import work, not of compiling."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "LANG": "C.UTF-8"}
    return env


def run_child(code: str, *extra: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *extra, "-c", code], cwd=cwd, env=child_env(),
                          capture_output=True, text=True, check=True)


def timed_import(code: str, cwd: Path = ROOT) -> tuple[float, float]:
    """(wall, CPU) seconds of the import in a fresh interpreter."""
    out = run_child(TIMED.format(code=code), cwd=cwd).stdout
    wall, cpu = out.split("IMPORT_SECONDS", 1)[1].split()[:2]
    return float(wall), float(cpu)


def import_tree(code: str) -> dict[str, tuple[int, int, int]]:
    """module -> (self us, cumulative us, depth) from one `python -X importtime` run."""
    tree: dict[str, tuple[int, int, int]] = {}
    for line in run_child(code, "-X", "importtime").stderr.splitlines():
        match = IMPORTTIME.match(line)
        if match:
            own, cumulative, indent, module = match.groups()
            tree[module] = (int(own), int(cumulative), len(indent) // 2)
    return tree


def interesting(module: str) -> bool:
    if module == "app" or module.startswith(("chalicelib.entrypoints", "chalicelib.bootstrap")):
        return True
    if module in {"chalicelib.config", "chalicelib.observability", "chalicelib.adapters.postgres_uow",
                  "chalicelib.db.pool", "chalicelib.domain.layer_a", "chalicelib.domain.layer_b"}:
        return True
    return module in {"chalice", "pydantic", "psycopg", "psycopg_pool",
                      "aws_lambda_powertools", "aws_lambda_powertools.utilities.batch", "hyperscan", "anthropic",
                      "botocore", "boto3", "aws_xray_sdk"}


def measure(runs: int, top: int, compare: Path | None = None) -> dict[str, Any]:
    """Alternating runs; with `compare` (another checkout of the project, e.g. `git archive main`), its
    `import app` runs in the same rounds, so before and after see the same machine load."""
    apps = {"app": ROOT, **({"compare": compare} if compare else {})}
    timings: dict[str, list[float]] = {name: [] for name in [*BASELINES, *apps]}
    cpu: dict[str, list[float]] = {name: [] for name in [*BASELINES, *apps]}
    ratios: dict[str, list[float]] = {f"{app}/{base}": [] for app in apps for base in BASELINES}
    cpu_ratios: dict[str, list[float]] = {key: [] for key in ratios}
    for where in apps.values():
        timed_import(APP, where)  # writes the bytecode of a fresh checkout
    for _ in range(runs):
        for name, code in BASELINES.items():
            wall, used = timed_import(code)
            timings[name].append(wall)
            cpu[name].append(used)
        for name, where in apps.items():
            wall, used = timed_import(APP, where)
            timings[name].append(wall)
            cpu[name].append(used)
            for base in BASELINES:
                ratios[f"{name}/{base}"].append(wall / timings[base][-1])
                cpu_ratios[f"{name}/{base}"].append(used / cpu[base][-1])
    trees = [import_tree(APP) for _ in range(max(3, runs // 3))]
    modules: dict[str, dict[str, float]] = {}
    for module in trees[0]:
        if interesting(module) and all(module in tree for tree in trees):
            modules[module] = {
                "self_ms": statistics.median(t[module][0] for t in trees) / 1000,
                "cumulative_ms": statistics.median(t[module][1] for t in trees) / 1000,
            }
    model_runs = [json.loads(run_child(MODEL_TIMER).stdout.split("MODELS", 1)[1]) for _ in range(3)]
    models = {name: statistics.median(run[name] for run in model_runs) * 1000
              for name in model_runs[0] if all(name in run for run in model_runs)}
    return {
        "runs": runs,
        "compare": str(compare) if compare else None,
        "median_s": {name: statistics.median(values) for name, values in timings.items()},
        "median_cpu_s": {name: statistics.median(values) for name, values in cpu.items()},
        "ratio": {name: statistics.median(values) for name, values in ratios.items()},
        "cpu_ratio": {name: statistics.median(values) for name, values in cpu_ratios.items()},
        "timings_s": timings,
        "cpu_s": cpu,
        "modules": modules,
        "models_ms": dict(sorted(models.items(), key=lambda item: -item[1])),
        "models_total_ms": sum(models.values()),
        "top": top,
    }


def markdown(result: dict[str, Any]) -> str:
    wall, cpu, ratio, cpu_ratio = result["median_s"], result["median_cpu_s"], result["ratio"], result["cpu_ratio"]
    apps = [name for name in ("app", "compare") if name in wall]
    lines = [
        f"Cold import, {result['runs']} alternating runs each, medians of the import's wall and CPU time "
        f"(load average {result['load'][0]:.1f} before, {result['load'][1]:.1f} after, "
        f"{os.cpu_count()} CPUs). Ratios: median of the per-run ratios (each `import app` against the "
        "baseline just before it), wall / CPU.",
        "",
        "| import | wall s | CPU s |" + "".join(f" {name} / this |" for name in apps),
        "|---|---:|---:|" + "---:|" * len(apps),
    ]
    labels = {"bare": f"bare: `{BASELINES['bare']}`",
              "used": "used: Chalice, BaseModel, psycopg.connect, Logger, Metrics"}
    for base, label in labels.items():
        lines.append(f"| {label} | {wall[base]:.3f} | {cpu[base]:.3f} |" + "".join(
            f" {ratio[f'{name}/{base}']:.2f}x / {cpu_ratio[f'{name}/{base}']:.2f}x |" for name in apps))
    for name in apps:
        where = "this checkout" if name == "app" else f"`{result['compare']}`"
        lines.append(f"| `import app` ({where}) | {wall[name]:.3f} | {cpu[name]:.3f} |" + " |" * len(apps))
    lines += [
        "",
        "Where `import app` spends it (`-X importtime`, medians; cumulative = the module and all it imported first):",
        "",
        "| module | self ms | cumulative ms |",
        "|---|---:|---:|",
    ]
    modules = sorted(result["modules"].items(), key=lambda item: -item[1]["cumulative_ms"])
    lines += [f"| {name} | {m['self_ms']:.1f} | {m['cumulative_ms']:.1f} |" for name, m in modules]
    lines += [
        "",
        f"Pydantic model class builds during `import app`: {len(result['models_ms'])} models, "
        f"{result['models_total_ms']:.1f} ms in all; the costliest:",
        "",
        "| model | build ms |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {ms:.2f} |" for name, ms in list(result["models_ms"].items())[: result["top"]]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkout whose `import app` runs in the same rounds (before/after)")
    args = parser.parse_args(argv)
    before = os.getloadavg()[0]
    started = time.monotonic()
    result = measure(args.runs, args.top, args.compare.resolve() if args.compare else None)
    result["load"] = [before, os.getloadavg()[0]]
    result["seconds"] = round(time.monotonic() - started, 1)
    text = markdown(result)
    print(text)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "cold_import.json").write_text(json.dumps(result, indent=2))
    (args.out_dir / "cold_import.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
