"""Train the offline Layer B stand-in and measure it on held-out texts.

    .venv/bin/python bench/offline_classifier.py            # evaluate the committed model
    .venv/bin/python bench/offline_classifier.py --train    # retrain, write the model, evaluate

The labelled set is ``bench/data/offline_classifier_*.tsv`` (label, title, body). A fixed quarter
of each label (by SHA-256 of the title) is held out for the test; the smoothing is
chosen by 5-fold cross-validation on the rest. Training is full-batch gradient descent from zero
weights: the same data gives the same model, byte for byte. The evaluation runs the shipped
inference code (``chalicelib.adapters.offline_classifier``) on the written model file, and writes
``build/bench/offline_classifier.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.adapters import offline_classifier as oc  # noqa: E402
from chalicelib.domain.layer_b import DEFAULT_THRESHOLDS, DOMAINS, ClassifierInput, decide  # noqa: E402

DATA = sorted((ROOT / "bench" / "data").glob("offline_classifier_*.tsv"))
OUT = ROOT / "build" / "bench"
ALPHAS = (0.1, 0.3, 1.0)
TEMPERATURES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
HARM_BOOSTS = (1.0, 2.0, 4.0, 8.0)
MIN_DOCS = 1  # a feature must occur in at least this many training texts

# Texts that are in no split: the examples newcomers type first. Reported, never trained on.
PROBES = (
    ("aligned", "No ramp at the clinic", "Wheelchair users cannot enter."),
    ("aligned", "Streetlights out on Elm road", "Half the streetlights on Elm road have been dark for two weeks."),
    ("aligned", "Rain tanks for the school garden", "Install two rain tanks so students can water the food garden."),
    ("off_mission", "My favourite sofa colours", "Beige versus grey for a living room sofa."),
    ("harmful", "Track the volunteers", "Secretly collect the home addresses of the food bank volunteers."),
)


@dataclass(frozen=True)
class Example:
    label: str
    title: str
    body: str
    lexicon: bool = False  # a domain's word list: always trained on, never tested

    @property
    def group(self) -> str:
        return "aligned" if self.label in DOMAINS else self.label


def load() -> list[Example]:
    examples = []
    for path in DATA:
        for line in path.read_text().splitlines():
            if line.strip():
                label, title, body = line.split("\t")
                if label not in oc.LABELS:
                    raise ValueError(f"{path.name}: unknown label {label!r}")
                examples.append(Example(label, title, body, lexicon=path.name.endswith("_lexicon.tsv")))
    return examples


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """Every fourth text of each label, in SHA-256 order of titles, is held out."""
    train: list[Example] = []
    test: list[Example] = []
    for label in oc.LABELS:
        train.extend(e for e in examples if e.label == label and e.lexicon)
        ordered = sorted((e for e in examples if e.label == label and not e.lexicon),
                         key=lambda e: hashlib.sha256(e.title.encode()).hexdigest())
        for i, example in enumerate(ordered):
            (test if i % 4 == 0 else train).append(example)
    return train, test


def vocabulary(examples: list[Example]) -> list[str]:
    counts: Counter[str] = Counter()
    for example in examples:
        counts.update(oc.features(example.title, example.body))
    return sorted(f for f, c in counts.items() if c >= MIN_DOCS)


def fit(examples: list[Example], labels: tuple[str, ...], label_of: Callable[[Example], str],
        alpha: float, temperature: float) -> dict[str, Any]:
    """Naive Bayes counts: in how many texts of each label each feature occurs."""
    vocab = set(vocabulary(examples))
    counts: dict[str, dict[int, int]] = {f: {} for f in sorted(vocab)}
    per_label = Counter(label_of(e) for e in examples)
    for example in examples:
        index = labels.index(label_of(example))
        for feat in oc.features(example.title, example.body):
            if feat in vocab:
                counts[feat][index] = counts[feat].get(index, 0) + 1
    totals = [sum(c.get(i, 0) for c in counts.values()) for i in range(len(labels))]
    return {
        "labels": list(labels),
        "log_prior": [round(math.log(per_label[label] / len(examples)), 6) for label in labels],
        "counts": {f: sorted(c.items()) for f, c in counts.items()},
        "totals": totals, "alpha": alpha, "temperature": temperature,
    }


def choose(examples: list[Example], labels: tuple[str, ...], label_of: Callable[[Example], str]) -> dict[str, Any]:
    """Smoothing and temperature with the lowest 5-fold cross-validated log loss (ties: fewer errors)."""
    folds = [[e for i, e in enumerate(examples) if i % 5 == f] for f in range(5)]
    scored = []
    for alpha in ALPHAS:
        models = []
        for f in range(5):
            rest = [e for g, fold in enumerate(folds) if g != f for e in fold]
            models.append(oc.NaiveBayes.from_dict(fit(rest, labels, label_of, alpha, 1.0)))
        for temperature in TEMPERATURES:
            loss, errors = 0.0, 0
            for f, model in enumerate(models):
                tempered = oc.NaiveBayes(model.labels, model.log_prior, model.counts, model.totals,
                                         model.alpha, temperature)
                for example in folds[f]:
                    probs = tempered.probabilities(oc.features(example.title, example.body))
                    loss -= math.log(max(probs[label_of(example)], 1e-12))
                    errors += max(probs, key=lambda k: probs[k]) != label_of(example)
            scored.append((loss / len(examples), errors, alpha, temperature))
    loss, errors, alpha, temperature = min(scored)
    print(f"  {'/'.join(labels[:3])}...: alpha {alpha}, temperature {temperature}, "
          f"cross-validated log loss {loss:.3f}, errors {errors}/{len(examples)}")
    return fit(examples, labels, label_of, alpha, temperature)


def weigh_harm(examples: list[Example], chosen: dict[str, Any]) -> dict[str, Any]:
    """Raise the prior of ``harmful`` by the factor (from HARM_BOOSTS) with the best cross-validated
    balance of the outcomes that matter: aligned texts approved, off-mission and harmful ones not.

    Publishing harm costs more than asking a human about a good text; this lets the data say how
    much more the model should lean, instead of a number typed in.
    """
    folds = [[e for i, e in enumerate(examples) if i % 5 == f] for f in range(5)]
    models = []
    for f in range(5):
        rest = [e for g, fold in enumerate(folds) if g != f for e in fold]
        models.append(fit(rest, oc.GROUPS, lambda e: e.group, chosen["alpha"], chosen["temperature"]))
    harm = oc.GROUPS.index(oc.HARMFUL)
    scored = []
    for boost in HARM_BOOSTS:
        right = {g: 0 for g in oc.GROUPS}
        for f, data in enumerate(models):
            prior = list(data["log_prior"])
            prior[harm] += math.log(boost) * data["temperature"]
            model = oc.NaiveBayes.from_dict({**data, "log_prior": prior})
            for example in folds[f]:
                probs = model.probabilities(oc.features(example.title, example.body))
                approved = (probs["aligned"] >= DEFAULT_THRESHOLDS.approve
                            and probs[oc.HARMFUL] < DEFAULT_THRESHOLDS.harm_warn)
                right[example.group] += approved == (example.group == "aligned")
        sizes = Counter(e.group for e in examples)
        balance = sum(right[g] / sizes[g] for g in oc.GROUPS) / len(oc.GROUPS)
        scored.append((round(balance, 6), -boost))
        print(f"  harmful prior x{boost}: cross-validated balanced decision accuracy {balance:.3f}")
    _, neg_boost = max(scored)
    prior = list(chosen["log_prior"])
    prior[harm] = round(prior[harm] + math.log(-neg_boost) * chosen["temperature"], 6)
    return {**chosen, "log_prior": prior, "harm_prior_boost": -neg_boost}


def train_model(train: list[Example]) -> dict[str, Any]:
    aligned = [e for e in train if e.group == "aligned"]
    group = choose(train, oc.GROUPS, lambda e: e.group)
    return {
        "version": oc.MODEL,
        "group": weigh_harm(train, group),
        "domain": choose(aligned, DOMAINS, lambda e: e.label),
    }


def evaluate(test: list[Example]) -> dict[str, object]:
    classifier = oc.OfflineClassifier()
    verdicts = ("approved", "flagged", "rejected")
    table = {g: dict.fromkeys(verdicts, 0) for g in oc.GROUPS}
    domain_right = 0
    group_right = 0
    for example in test:
        item = ClassifierInput(kind="problem", title=example.title, body=example.body, domain=None)
        assessment = classifier.classify(item).assessment
        assert assessment is not None
        table[example.group][decide(assessment, "verified")] += 1
        probs = oc.load_model().group.probabilities(oc.features(example.title, example.body))
        group_right += max(probs, key=lambda k: probs[k]) == example.group
        if example.group == "aligned":
            domain_right += assessment.aligned_domain == example.label
    aligned_n = sum(table["aligned"].values())
    probes = []
    for group, title, body in PROBES:
        found = classifier.classify(ClassifierInput("problem", title, body, None)).assessment
        assert found is not None
        probes.append({"expected": group, "title": title, "decision": decide(found, "verified"),
                       "domain": found.aligned_domain, "alignment": found.alignment_score, "harm": found.harm_risk})
    return {
        "test_size": len(test),
        "decisions": table,
        "group_accuracy": round(group_right / len(test), 3),
        "domain_accuracy_on_aligned": round(domain_right / max(1, aligned_n), 3),
        "aligned_approved": round(table["aligned"]["approved"] / max(1, aligned_n), 3),
        "harmful_not_approved": round(1 - table["harmful"]["approved"] / max(1, sum(table["harmful"].values())), 3),
        "probes": probes,
    }


def markdown(result: dict[str, object], sizes: dict[str, int]) -> str:
    table = result["decisions"]
    assert isinstance(table, dict)
    lines = [f"Held-out test set: {result['test_size']} texts (training: {sizes['train']}).", "",
             "| true label | approved | flagged | rejected |", "|---|---|---|---|"]
    for group, row in table.items():
        lines.append(f"| {group} | {row['approved']} | {row['flagged']} | {row['rejected']} |")
    lines += ["", f"- group accuracy (aligned / off_mission / harmful): {result['group_accuracy']}",
              f"- domain accuracy on aligned texts: {result['domain_accuracy_on_aligned']}",
              f"- aligned approved: {result['aligned_approved']}",
              f"- harmful not approved: {result['harmful_not_approved']}", "",
              "| probe (never trained on) | expected | decision | domain | alignment | harm |",
              "|---|---|---|---|---|---|"]
    for p in result["probes"]:  # type: ignore[attr-defined]
        lines.append(f"| {p['title']} | {p['expected']} | {p['decision']} | {p['domain']} | "
                     f"{p['alignment']} | {p['harm']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true", help="retrain and write the model file first")
    args = parser.parse_args(argv)
    train, test = split(load())
    if args.train:
        model = train_model(train)
        oc.MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
        oc.MODEL_FILE.write_text(json.dumps(model, separators=(",", ":"), sort_keys=True) + "\n")
        oc.load_model.cache_clear()
        print(f"wrote {oc.MODEL_FILE.relative_to(ROOT)}: {oc.MODEL_FILE.stat().st_size} bytes")
    result = evaluate(test)
    text = markdown(result, {"train": len(train)})
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "offline_classifier.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / "offline_classifier.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
