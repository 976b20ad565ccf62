"""The deterministic local stand-in for Layer B, used when no Anthropic API key is configured.

Not an LLM and not a keyword list: two multinomial naive Bayes models over word stems, stem bigrams
and character 4-grams, trained by ``bench/offline_classifier.py`` on a labelled set committed in
``bench/data/`` (aligned civic texts across the 15 domains, off-mission texts, harmful texts). One
model gives the group (aligned, off-mission, harmful), the other the domain. The counts are a data
file next to this module; inference is plain Python, loaded on first use, so the Lambda package
stays lean and a cold start that never needs it pays nothing.

The alignment score is the probability that the text is aligned with the mission, the harm risk
the probability that it is harmful, the domain the likeliest of the 15. Feasibility and quality are
simple text measures. Every result is labelled in the decision trail (``classifier="offline"``,
``stand_in: true`` and a note saying how to switch to Claude) so nobody mistakes it for an LLM
verdict. Same input, same output, in every process: no randomness, sorted summation.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from chalicelib.domain.layer_b import (
    DOMAINS,
    ZERO_USAGE,
    Assessment,
    ClassifierInput,
    ClassifierResult,
    Domain,
)

MODEL = "offline-naive-bayes-v2"
MODEL_FILE = Path(__file__).resolve().parent / "data" / "offline_classifier_model.json"
OFF_MISSION = "off_mission"
HARMFUL = "harmful"
LABELS: tuple[str, ...] = (*DOMAINS, OFF_MISSION, HARMFUL)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "for", "from", "has", "have", "he",
    "her", "his", "i", "if", "in", "into", "is", "it", "its", "of", "on", "or", "our", "she", "so", "than",
    "that", "the", "their", "them", "there", "these", "they", "this", "to", "was", "we", "were", "what",
    "when", "which", "who", "will", "with", "would", "you", "your",
))
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s")


def stem(word: str) -> str:
    """A light suffix stripper: "clinics" and "clinic", "flooding" and "flood" meet."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def words_of(text: str) -> list[str]:
    """Lower-cased words of ``text`` after Unicode compatibility folding."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def features(title: str, body: str) -> list[str]:
    """The sorted, distinct features of a text: word stems, stem bigrams and character 4-grams."""
    words = words_of(f"{title}\n{body}")
    stems = [stem(w) for w in words if w not in STOPWORDS]
    found: set[str] = {f"w:{s}" for s in stems}
    found.update(f"b:{a}_{b}" for a, b in itertools.pairwise(stems))
    for s in stems:
        padded = f"<{s}>"
        found.update(f"c:{padded[i:i + 4]}" for i in range(len(padded) - 3))
    return sorted(found)


@dataclass(frozen=True)
class NaiveBayes:
    """Multinomial naive Bayes over binary features, with Laplace smoothing and a temperature.

    The temperature (chosen by cross-validation when training) softens the overconfident raw
    posterior so that a short text with a few telling words scores in between, as it should.
    """

    labels: tuple[str, ...]
    log_prior: tuple[float, ...]
    counts: dict[str, dict[int, int]]
    totals: tuple[int, ...]
    alpha: float
    temperature: float

    def probabilities(self, feats: list[str]) -> dict[str, float]:
        """Class probabilities for a sorted feature list; unknown features are ignored."""
        vocab = len(self.counts)
        denominators = [math.log(total + self.alpha * vocab) for total in self.totals]
        logits = list(self.log_prior)
        for feat in feats:  # sorted input: the same summation order everywhere
            seen = self.counts.get(feat)
            if seen is None:
                continue
            for index in range(len(self.labels)):
                logits[index] += math.log(seen.get(index, 0) + self.alpha) - denominators[index]
        scaled = [z / self.temperature for z in logits]
        top = max(scaled)
        exps = [math.exp(z - top) for z in scaled]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.labels, exps, strict=True)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NaiveBayes:
        return cls(
            labels=tuple(data["labels"]),
            log_prior=tuple(float(v) for v in data["log_prior"]),
            counts={feat: {int(i): int(n) for i, n in pairs} for feat, pairs in data["counts"].items()},
            totals=tuple(int(t) for t in data["totals"]),
            alpha=float(data["alpha"]),
            temperature=float(data["temperature"]),
        )


GROUPS: tuple[str, ...] = ("aligned", OFF_MISSION, HARMFUL)


@dataclass(frozen=True)
class OfflineModel:
    """Two naive Bayes models: the group (aligned, off-mission, harmful) and the domain."""

    version: str
    group: NaiveBayes
    domain: NaiveBayes


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_FILE) -> OfflineModel:
    """The committed model, read once per process."""
    data = json.loads(path.read_text())
    model = OfflineModel(version=str(data["version"]), group=NaiveBayes.from_dict(data["group"]),
                         domain=NaiveBayes.from_dict(data["domain"]))
    if model.group.labels != GROUPS or model.domain.labels != DOMAINS:
        raise ValueError("the model file's labels do not match this code")
    return model


FEASIBILITY_CUES = frozenset(stem(w) for w in (
    "pilot", "plan", "step", "budget", "cost", "partner", "timeline", "measure", "metric", "month", "week",
    "volunteer", "train", "deploy", "prototype", "survey", "evidence", "data", "install", "distribute",
    "weekly", "daily",
))

class OfflineClassifier:
    """The linear model standing in for the LLM: deterministic, free, and clearly labelled."""

    offline = True
    model = MODEL

    def classify(self, item: ClassifierInput) -> ClassifierResult:
        """Score ``item`` with the committed model; always returns an assessment."""
        started = time.monotonic()
        assessment = assess(item)
        return ClassifierResult(
            assessment=assessment,
            classifier="offline",
            model=MODEL,
            usage=ZERO_USAGE,
            cost_usd_micros=0,
            attempts=1,
            latency_ms=round((time.monotonic() - started) * 1000),
            error=None,
        )


def _clamp(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


def assess(item: ClassifierInput) -> Assessment:
    """The model's assessment, a pure function of the input."""
    feats = features(item.title, item.body)
    model = load_model()
    groups = model.group.probabilities(feats)
    domains = model.domain.probabilities(feats)
    declared = item.domain if item.domain in DOMAINS else None
    # The likeliest domain (ties: the order of DOMAINS); the agent's declared domain stands unless
    # the text points clearly (probability 0.5 or more) at another.
    best = max(DOMAINS, key=lambda d: (round(domains[d], 9), -DOMAINS.index(d)))
    if declared and domains[best] < 0.5:
        best = declared

    text = f"{item.title}\n{item.body}"
    words = words_of(text)
    cues = sorted({stem(w) for w in words} & FEASIBILITY_CUES)
    feasibility = 0.3 + 0.08 * min(len(cues), 7)
    letters = [c for c in text if c.isalpha()]
    shouting = sum(1 for c in letters if c.isupper()) / max(1, len(letters))
    distinct_ratio = len(set(words)) / max(1, len(words))
    quality = 0.3 + min(len(words), 200) / 200 * 0.4
    quality += 0.1 if "\n" in item.body.strip() else 0.0  # paragraphs or lists
    quality += 0.1 if 3 <= len(item.title.split()) <= 20 else 0.0
    quality -= 0.3 if shouting > 0.5 else 0.0
    quality -= 0.3 if len(words) >= 20 and distinct_ratio < 0.3 else 0.0  # repetition

    reasoning = (
        f"Offline naive Bayes classifier, not an LLM judgement. Likeliest domain {best} ({domains[best]:.2f}); "
        f"aligned with the mission {groups['aligned']:.2f}, off-mission {groups[OFF_MISSION]:.2f}, "
        f"harmful {groups[HARMFUL]:.2f}. {len(words)} words, {len(cues)} feasibility cue(s). "
        "Set ANTHROPIC_API_KEY to have Claude decide."
    )
    return Assessment(
        aligned_domain=cast(Domain, best),
        alignment_score=_clamp(groups["aligned"]),
        harm_risk=_clamp(groups[HARMFUL]),
        feasibility=_clamp(feasibility),
        quality=_clamp(quality),
        reasoning=reasoning[:2000],
    )
