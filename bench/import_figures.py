"""The import graph in figures: long modules, imports inside functions, services reaching the database, cycles.

Usage: python bench/import_figures.py [--before REV] [--root chalicelib --root functions --root local]

    # before and after side by side, in one run: the sources of REV (git archive) beside this checkout's
    python bench/import_figures.py --before 4306f61

Counted with Python's `ast` over the packages given (default `chalicelib`; `functions` and `local` on request):

- modules over 350 lines (physical lines, as `wc -l` counts them);
- import statements inside a function body, of our own packages (`chalicelib`, `functions`, `local`, or
  relative) and of any package; `TYPE_CHECKING` blocks are not imports;
- service modules (`chalicelib/services/`) importing `chalicelib.db` or `chalicelib.adapters`, at any depth;
- import cycles: strongly connected groups of modules in the graph of module-level imports (an import of
  a name from a package counts as an import of the package, and of the submodule when the name is one),
  and the result of import-linter's `no-cycles` contract (`acyclic_siblings`) with every contract of
  pyproject.toml (`lint-imports` run on each tree).

Prints one table (markdown), and writes build/bench/import_figures.json.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = ("chalicelib", "functions", "local")
LONG = 350


@dataclass
class Figures:
    modules: int = 0
    long_modules: list[str] = field(default_factory=list)
    own_inside: list[str] = field(default_factory=list)
    any_inside: list[str] = field(default_factory=list)
    services_db: list[str] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)
    contracts: str = ""
    no_cycles_contract: str = ""


def module_name(tree: Path, path: Path) -> str:
    parts = list(path.relative_to(tree).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement names: for `from p import n`, p.n when n is a module (marked `?`:
    resolved once every module is known), else p."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    source = _absolute(module, is_package, node)
    return [source, *(f"?{source}.{alias.name}" for alias in node.names if alias.name != "*")]


def _resolve(names: list[str], known: set[str]) -> set[str]:
    if not any(n.startswith("?") for n in names):
        return set(names)
    submodules = {n[1:] for n in names[1:] if n[1:] in known}
    # `from p import a, X`: p.a is imported, and p itself when some name is not a submodule
    return submodules | ({names[0]} if len(submodules) < len(names) - 1 else set())


def _walk(
    module: str, is_package: bool, node: ast.AST, *, inside: bool, top: list[list[str]], nested: list[list[str]]
) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child):
            orelse = ast.Module(body=child.orelse, type_ignores=[])
            _walk(module, is_package, orelse, inside=inside, top=top, nested=nested)
        elif isinstance(child, ast.Import | ast.ImportFrom):
            names = _imports(module, is_package, child)
            (nested if inside else top).append(names)
        else:
            inner = inside or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            _walk(module, is_package, child, inside=inner, top=top, nested=nested)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; groups of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _lint_imports(tree: Path) -> tuple[str, str]:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tree, capture_output=True, text=True, check=False, env={"PYTHONPATH": str(tree), "PATH": ""},
    )
    summary = re.search(r"Contracts: (\d+) kept, (\d+) broken", proc.stdout)
    cycles = re.search(r"No import cycles between the modules of a package (KEPT|BROKEN)", proc.stdout)
    return (
        f"{summary.group(1)} kept, {summary.group(2)} broken" if summary else "not run",
        cycles.group(1).lower() if cycles else "not run",
    )


def count(tree: Path, roots: list[str]) -> Figures:
    figures = Figures()
    graph: dict[str, set[str]] = {}
    tops: dict[str, list[list[str]]] = {}
    for root in roots:
        for path in sorted((tree / root).rglob("*.py")):
            text = path.read_text()
            name = module_name(tree, path)
            rel = str(path.relative_to(tree))
            figures.modules += 1
            if text.count("\n") > LONG:
                figures.long_modules.append(f"{rel} ({text.count(chr(10))})")
            top: list[list[str]] = []
            nested: list[list[str]] = []
            _walk(name, path.name == "__init__.py", ast.parse(text), inside=False, top=top, nested=nested)
            for names in nested:
                figures.any_inside.append(f"{rel}: {names[0]}")
                if names[0].split(".")[0] in OWN:
                    figures.own_inside.append(f"{rel}: {names[0]}")
            if rel.startswith("chalicelib/services/") and any(
                names[0].startswith(("chalicelib.db", "chalicelib.adapters")) for names in top + nested
            ):
                figures.services_db.append(rel)
            tops[name] = top
    known = set(tops)
    for name, top in tops.items():
        graph[name] = {t for names in top for t in _resolve(names, known) if t in known and t != name}
    figures.cycles = _strongly_connected(graph)
    figures.contracts, figures.no_cycles_contract = _lint_imports(tree)
    return figures


def checkout(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


ROWS = [
    ("modules", lambda f: f.modules),
    (f"modules over {LONG} lines", lambda f: len(f.long_modules)),
    ("imports of our own modules inside functions", lambda f: len(f.own_inside)),
    ("imports of any module inside functions", lambda f: len(f.any_inside)),
    ("service modules importing `chalicelib.db` or an adapter", lambda f: len(f.services_db)),
    ("import cycles (module-level, ast)", lambda f: len(f.cycles)),
    ("import-linter `no-cycles` (acyclic_siblings)", lambda f: f.no_cycles_contract),
    ("import-linter contracts", lambda f: f.contracts),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a git revision to count beside this checkout")
    parser.add_argument("--root", action="append", help="a top-level package to count (default chalicelib)")
    parser.add_argument("--list", action="store_true", help="also list the modules behind each figure")
    args = parser.parse_args(argv)
    roots = args.root or ["chalicelib"]
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            results[f"before ({args.before})"] = count(checkout(args.before, Path(tmp)), roots)
        results["after (this checkout)" if args.before else "this checkout"] = count(ROOT, roots)
    print(f"Counted over {', '.join(r + '/' for r in roots)}\n")
    print("| figure | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for label, value in ROWS:
        print(f"| {label} | " + " | ".join(str(value(f)) for f in results.values()) + " |")
    if args.list:
        for column, figures in results.items():
            print(f"\n## {column}")
            for key in ("long_modules", "own_inside", "any_inside", "services_db", "cycles"):
                print(f"\n{key}:")
                for item in getattr(figures, key):
                    print(f"  {item}")
    out = ROOT / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "import_figures.json").write_text(
        json.dumps({"roots": roots, **{k: asdict(v) for k, v in results.items()}}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
