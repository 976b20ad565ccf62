"""Replay real crowd answers through the peer consensus rule.

Usage: python bench/consensus_replay.py ANSWERS.csv GOLD.csv [--confidence one|calibrated]
       [--approve-label LABEL] [--out-dir DIR]

ANSWERS.csv has columns task,worker,label; GOLD.csv has task,label. Labels take any two values:
the first in sorted order (numeric when all labels are numbers) means "approve", the other
"reject", unless --approve-label says otherwise. Every task is a submission, every worker a
validator. Tasks are replayed in the order of their first answer; the first 3 answers of a task
(file order, one per worker) are its quorum and go through ``chalicelib.domain.consensus.decide``
as in production. After each decision the gold label is revealed: every quorum member's history
gains (its decision, the truth) and its tier moves with ``tiers.score`` / ``tiers.next_tier``.
Tasks with fewer than 3 answers (also gold tasks nobody answered) are below quorum: undecided.

Crowd answers carry no confidence. ``--confidence one`` (default) gives every vote 1.0, so the
weights are the tier weights alone. ``--confidence calibrated`` gives each vote what a calibrated
validator would report: its running accuracy on revealed tasks with a Laplace prior,
``(correct + 1) / (answered + 2)`` (a new validator starts at 1/2). The report shows both.

Beside the rule it prints: the earlier system's rule on the same votes (float shares compared
with 0.67), the rule when a task without a 2/3 majority waits for its over-assigned answers 4 to
6, plain majority of the same 3 answers, and Dawid-Skene fitted offline on all quorums (a batch
reference no online system has). A JSON and a markdown report go to --out-dir (build/bench).
The last line is exactly ``accuracy <a> decided <d> majority3 <m>``: accuracy of the rule on the
tasks it decided, share of tasks with gold it decided, accuracy of majority of 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.domain.consensus import (
    OVER_ASSIGN,
    QUORUM,
    TIER_WEIGHT,
    Decision,
    Outcome,
    Tier,
    Verdict,
    Vote,
    decide,
)
from chalicelib.domain.tiers import next_tier, score

LEGACY_THRESHOLD = 0.67
CONFIDENCE_MODES = ("one", "calibrated")


@dataclass
class Validator:
    """A crowd worker seen as a validator: its revealed history and its tier."""

    tier: Tier = "apprentice"
    history: list[tuple[Decision, Verdict]] = field(default_factory=list)
    since_change: int = 0
    correct: int = 0
    tier_changes: int = 0

    def confidence(self, mode: str) -> Fraction:
        if mode == "one":
            return Fraction(1)
        return Fraction(self.correct + 1, len(self.history) + 2)

    def reveal(self, decision: Decision, truth: Verdict) -> None:
        self.history.append((decision, truth))
        self.correct += (decision == "approve") == (truth == "approved")
        self.since_change += 1
        new = next_tier(self.tier, score(self.history).f1, len(self.history), self.since_change)
        if new != self.tier:
            self.tier, self.since_change = new, 0
            self.tier_changes += 1


@dataclass
class Task:
    task_id: str
    answers: list[tuple[str, str]] = field(default_factory=list)  # (worker, label), file order


@dataclass
class Tally:
    """Decisions on tasks with gold: how many were decided, how many of those were right."""

    items: int = 0
    decided: int = 0
    correct: int = 0

    def add(self, predicted: str | None, truth: str) -> None:
        self.items += 1
        if predicted is not None:
            self.decided += 1
            self.correct += predicted == truth

    def accuracy(self) -> float:
        return self.correct / self.decided if self.decided else 0.0

    def share(self) -> float:
        return self.decided / self.items if self.items else 0.0


def _label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _reader(handle: Any, path: Path, columns: set[str]) -> csv.DictReader[str]:
    reader = csv.DictReader(handle)
    missing = columns - {name.strip() for name in reader.fieldnames or ()}
    if missing:
        raise SystemExit(f"{path}: missing columns {sorted(missing)}")
    return reader


def read_answers(path: Path) -> list[Task]:
    tasks: dict[str, Task] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in _reader(handle, path, {"task", "worker", "label"}):
            task_id, worker, label = (str(row[k] or "").strip() for k in ("task", "worker", "label"))
            if task_id and worker and label:
                tasks.setdefault(task_id, Task(task_id)).answers.append((worker, label))
    return list(tasks.values())


def read_gold(path: Path) -> dict[str, str]:
    gold: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in _reader(handle, path, {"task", "label"}):
            task_id, label = str(row["task"] or "").strip(), str(row["label"] or "").strip()
            if task_id and label:
                gold[task_id] = label
    return gold


def distinct_answers(task: Task, limit: int) -> list[tuple[str, str]]:
    """The first ``limit`` answers of a task, one per worker (a worker's repeat does not count)."""
    seen: set[str] = set()
    answers: list[tuple[str, str]] = []
    for worker, label in task.answers:
        if len(answers) == limit:
            break
        if worker not in seen:
            seen.add(worker)
            answers.append((worker, label))
    return answers


def legacy_decide(votes: Sequence[Vote]) -> Outcome:
    """The earlier system's rule: float shares against 0.67, so 2 of 3 equal votes escalated."""
    weights = {v.validator_id: float(TIER_WEIGHT[v.tier]) * float(v.confidence) for v in votes}
    total = sum(weights.values())
    if len(votes) < QUORUM or total <= 0 or any(v.safety_flagged for v in votes):
        return "escalated"
    approve = sum(weights[v.validator_id] for v in votes if v.decision == "approve")
    reject = sum(weights[v.validator_id] for v in votes if v.decision == "reject")
    if approve / total >= LEGACY_THRESHOLD:
        return "approved"
    if reject / total >= LEGACY_THRESHOLD:
        return "rejected"
    return "escalated"


def majority(labels: Sequence[str]) -> str | None:
    counts = Counter(labels).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def dawid_skene(quorums: dict[str, list[tuple[str, str]]], labels: Sequence[str], rounds: int = 50) -> dict[str, str]:
    """Dawid-Skene: EM over class priors and per-worker confusion matrices, started at majority."""
    k = len(labels)
    index = {label: i for i, label in enumerate(labels)}
    posterior: dict[str, list[float]] = {}
    for task_id, answers in quorums.items():
        counts = [0.0] * k
        for _, label in answers:
            counts[index[label]] += 1
        posterior[task_id] = [c / sum(counts) for c in counts]
    for _ in range(rounds):
        prior = [0.01] * k
        confusion: dict[str, list[list[float]]] = {}
        for task_id, answers in quorums.items():
            for c in range(k):
                prior[c] += posterior[task_id][c]
            for worker, label in answers:
                matrix = confusion.setdefault(worker, [[0.01] * k for _ in range(k)])
                for c in range(k):
                    matrix[c][index[label]] += posterior[task_id][c]
        log_prior = [math.log(p / sum(prior)) for p in prior]
        log_confusion = {
            worker: [[math.log(x / sum(row)) for x in row] for row in matrix] for worker, matrix in confusion.items()
        }
        for task_id, answers in quorums.items():
            logs = list(log_prior)
            for worker, label in answers:
                for c in range(k):
                    logs[c] += log_confusion[worker][c][index[label]]
            top = max(logs)
            weights = [math.exp(x - top) for x in logs]
            posterior[task_id] = [w / sum(weights) for w in weights]
    return {task_id: labels[max(range(k), key=lambda c: p[c])] for task_id, p in posterior.items()}


@dataclass
class Run:
    rule: Tally
    legacy: Tally
    legacy_untiered: Tally
    majority3: Tally
    reasons: Counter[str]
    validators: dict[str, Validator]
    quorums: dict[str, list[tuple[str, str]]]


def replay(
    tasks: Sequence[Task],
    gold: dict[str, str],
    labels: tuple[str, str],
    mode: str,
    wait_for: int = QUORUM,
) -> Run:
    """Replay every task in order. ``labels`` is (approve label, reject label).

    With ``wait_for`` > 3, a task whose quorum has no 2/3 majority takes its next answers, one
    at a time up to ``wait_for``, as production would with over-assigned validators.
    """
    approve_label, reject_label = labels

    def to_decision(label: str) -> Decision:
        return "approve" if label == approve_label else "reject"

    def to_verdict(label: str) -> Verdict:
        return "approved" if label == approve_label else "rejected"

    def label_of(outcome: Outcome) -> str | None:
        return {"approved": approve_label, "rejected": reject_label}.get(outcome)

    validators: dict[str, Validator] = {}
    run = Run(Tally(), Tally(), Tally(), Tally(), Counter(), validators, {})
    for task in tasks:
        available = distinct_answers(task, max(wait_for, QUORUM))
        used = available[:QUORUM]

        def votes_of(answers: list[tuple[str, str]]) -> list[Vote]:
            return [
                Vote(
                    validator_id=worker,
                    tier=validators.setdefault(worker, Validator()).tier,
                    decision=to_decision(label),
                    confidence=validators[worker].confidence(mode),  # type: ignore[arg-type]
                )
                for worker, label in answers
            ]

        first_votes = votes_of(used)
        result = decide(first_votes)
        while result.reason == "no_supermajority" and len(used) < len(available):
            used = available[: len(used) + 1]
            result = decide(votes_of(used))

        truth = gold.get(task.task_id)
        if truth is None:
            continue
        run.reasons[result.reason] += 1
        run.rule.add(label_of(result.outcome), truth)
        run.legacy.add(label_of(legacy_decide(first_votes)), truth)
        untiered = [replace(vote, tier="apprentice", confidence=1.0) for vote in first_votes]
        run.legacy_untiered.add(label_of(legacy_decide(untiered)), truth)
        quorum_labels = [label for _, label in available[:QUORUM]]
        run.majority3.add(majority(quorum_labels) if len(quorum_labels) == QUORUM else None, truth)
        if len(quorum_labels) == QUORUM:
            run.quorums[task.task_id] = available[:QUORUM]
        for worker, label in used:
            validators[worker].reveal(to_decision(label), to_verdict(truth))
    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay crowd answers through the consensus rule.")
    parser.add_argument("answers", type=Path, help="CSV with columns task,worker,label")
    parser.add_argument("gold", type=Path, help="CSV with columns task,label")
    parser.add_argument("--confidence", choices=CONFIDENCE_MODES, default="one")
    parser.add_argument("--approve-label", default=None)
    parser.add_argument("--out-dir", type=Path, default=Path("build/bench"))
    args = parser.parse_args(argv)

    tasks = read_answers(args.answers)
    gold = read_gold(args.gold)
    answered = {task.task_id for task in tasks}
    tasks += [Task(task_id) for task_id in gold if task_id not in answered]
    labels = sorted({label for t in tasks for _, label in t.answers} | set(gold.values()), key=_label_order)
    if not labels:
        raise SystemExit("no labels in the answers or the gold file")
    if len(labels) > 2:
        raise SystemExit(f"expected two labels, found {len(labels)}: {labels[:10]}")
    approve_label = labels[0] if args.approve_label is None else args.approve_label
    if labels and approve_label not in labels:
        raise SystemExit(f"--approve-label {approve_label!r} is not one of {labels}")
    reject_label = next((label for label in labels if label != approve_label), "")

    runs = {mode: replay(tasks, gold, (approve_label, reject_label), mode) for mode in CONFIDENCE_MODES}
    waiting = replay(tasks, gold, (approve_label, reject_label), args.confidence, wait_for=OVER_ASSIGN)
    chosen = runs[args.confidence]
    ds = Tally()
    ds_labels = dawid_skene(chosen.quorums, labels) if chosen.quorums else {}
    for task_id, truth in gold.items():
        ds.add(ds_labels.get(task_id), truth)

    rows: list[tuple[str, str, Tally]] = []
    for mode, run in runs.items():
        rows.append(("2/3 exact, tiered", mode, run.rule))
        rows.append(("0.67 float, tiered (earlier rule)", mode, run.legacy))
    rows.append(("0.67 float, equal weights (earlier rule, no tiers)", "one", chosen.legacy_untiered))
    rows.append((f"2/3 exact, tiered, waits for answers 4-{OVER_ASSIGN}", args.confidence, waiting.rule))
    rows.append(("majority of 3", "-", chosen.majority3))
    rows.append(("Dawid-Skene on the quorums (offline)", "-", ds))

    items = chosen.rule.items
    below_quorum = chosen.reasons["below_quorum"]
    final_tiers = Counter(v.tier for v in chosen.validators.values())
    report = {
        "answers": str(args.answers),
        "gold": str(args.gold),
        "approve_label": approve_label,
        "reject_label": reject_label,
        "items_with_gold": items,
        "items_below_quorum": below_quorum,
        "validators": len(chosen.validators),
        "final_tiers": dict(final_tiers),
        "tier_changes": sum(v.tier_changes for v in chosen.validators.values()),
        "confidence": args.confidence,
        "outcome_reasons": dict(chosen.reasons),
        "rows": [
            {"rule": rule, "confidence": mode, "accuracy": tally.accuracy(), "decided": tally.share()}
            for rule, mode, tally in rows
        ],
    }
    markdown = "\n".join(
        [
            f"# Consensus replay: {args.answers.name}",
            "",
            f"{items} tasks with gold ({below_quorum} below quorum), {len(chosen.validators)} validators, "
            f"final tiers {dict(final_tiers)}, approve = {approve_label!r}, reject = {reject_label!r}.",
            "",
            "| rule | confidence | accuracy on decided | share decided |",
            "|---|---|---|---|",
            *(f"| {r} | {m} | {t.accuracy():.4f} | {t.share():.4f} |" for r, m, t in rows),
        ]
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"consensus_replay_{args.answers.stem}"
    (args.out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out_dir / f"{stem}.md").write_text(markdown + "\n", encoding="utf-8")

    print(markdown)
    print(
        f"accuracy {chosen.rule.accuracy():.4f} decided {chosen.rule.share():.4f} "
        f"majority3 {chosen.majority3.accuracy():.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
