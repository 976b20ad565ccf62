"""PII masking on the labelled set: recall by kind, and false masks (by kind) on hard negatives.

    .venv/bin/python bench/bench_pii_masking.py                 # this checkout
    .venv/bin/python bench/bench_pii_masking.py --code ../main  # another checkout's Layer A (before/after)

A positive counts as found when a signal of its kind covers the value (up to an extension such as
`x1234`) and does not reach beyond it (a span that swallows the next words loses content). A false
mask is any PII signal on a hard negative, or one outside the value on a positive.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "fixtures" / "pii" / "labelled.jsonl"
OUT = ROOT / "build" / "bench"
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d+$", re.IGNORECASE)


def load(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(rows: list[dict[str, Any]], evaluate: Any) -> dict[str, Any]:
    """Recall per kind, false masks per kind on negatives and around positives, misses listed."""
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    false_on_negatives: Counter[str] = Counter()
    false_on_negatives_by_family: dict[str, Counter[str]] = defaultdict(Counter)
    false_around_positives: Counter[str] = Counter()
    misses: list[dict[str, Any]] = []
    false_examples: list[dict[str, Any]] = []
    started = time.perf_counter()
    for row in rows:
        result = evaluate(row["text"])
        pii = [(s.subtype, s.start, s.end) for s in result.signals if s.kind == "pii"]
        kind = row["kind"]
        if kind is None:
            for subtype, start, end in pii:
                false_on_negatives[subtype] += 1
                false_on_negatives_by_family[row["family"]][subtype] += 1
                false_examples.append({"text": row["text"], "kind": subtype, "span": row["text"][start:end]})
            continue
        total[kind] += 1
        start, end = row["span"]
        value = row["text"][start:end]
        core_end = start + len(_EXTENSION.sub("", value))
        hit = any(s == kind and s_start <= start and s_end >= core_end and s_start >= start and s_end <= end
                  for s, s_start, s_end in pii)
        if hit:
            found[kind] += 1
        else:
            misses.append({"text": row["text"], "kind": kind, "family": row["family"],
                           "got": [(s, row["text"][a:b]) for s, a, b in pii]})
        for subtype, s_start, s_end in pii:
            if s_end <= start or s_start >= end:
                false_around_positives[subtype] += 1
                false_examples.append({"text": row["text"], "kind": subtype, "span": row["text"][s_start:s_end]})
    elapsed = time.perf_counter() - started
    negatives = sum(1 for r in rows if r["kind"] is None)
    return {
        "rows": len(rows),
        "negatives": negatives,
        "recall": {k: {"found": found[k], "total": total[k], "recall": round(found[k] / total[k], 4)}
                   for k in sorted(total)},
        "false_masks_on_negatives": dict(false_on_negatives),
        "false_masks_on_negatives_by_family": {f: dict(c) for f, c in sorted(false_on_negatives_by_family.items())},
        "false_masks_around_positives": dict(false_around_positives),
        "ms_per_text": round(elapsed * 1000 / len(rows), 4),
        "misses": misses,
        "false_examples": false_examples,
    }


def markdown(label: str, result: dict[str, Any]) -> str:
    lines = [f"### PII masking ({label}): {result['rows']} texts, {result['negatives']} hard negatives", "",
             "| kind | found | total | recall | false masks on negatives | false masks around positives |",
             "|---|---|---|---|---|---|"]
    kinds = sorted(set(result["recall"]) | set(result["false_masks_on_negatives"]))
    for kind in kinds:
        r = result["recall"].get(kind, {"found": 0, "total": 0, "recall": 0})
        lines.append(f"| {kind} | {r['found']} | {r['total']} | {r['recall']:.1%} | "
                     f"{result['false_masks_on_negatives'].get(kind, 0)} | "
                     f"{result['false_masks_around_positives'].get(kind, 0)} |")
    lines.append("")
    if result["false_masks_on_negatives_by_family"]:
        lines.append("False masks on negatives by family: " + ", ".join(
            f"{family} {sum(c.values())}" for family, c in result["false_masks_on_negatives_by_family"].items()))
    lines.append(f"Mean time per text: {result['ms_per_text']} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code", help="a checkout whose chalicelib to measure (default: this one)")
    parser.add_argument("--label", default=None)
    parser.add_argument("--show", type=int, default=0, help="print this many misses and false masks")
    args = parser.parse_args(argv)
    if args.code:
        sys.path.insert(0, str(Path(args.code).resolve()))
    else:
        sys.path.insert(0, str(ROOT))
    from chalicelib.domain.layer_a import evaluate

    label = args.label or ("this checkout" if not args.code else args.code)
    result = score(load(), evaluate)
    text = markdown(label, result)
    print(text)
    for item in result["misses"][: args.show]:
        print("MISS", item)
    for item in result["false_examples"][: args.show]:
        print("FALSE", item)
    if not args.code:
        OUT.mkdir(parents=True, exist_ok=True)
        slim = {k: v for k, v in result.items() if k not in ("misses", "false_examples")}
        (OUT / "pii_masking.json").write_text(json.dumps(slim, indent=2))
        (OUT / "pii_masking.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
