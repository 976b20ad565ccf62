"""Value objects of the Layer A content screen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

SEVERITY_SCORE: dict[str, float] = {"low": 0.3, "medium": 0.6, "high": 0.9}

CATEGORIES: tuple[str, ...] = (
    "surveillance",
    "weapons",
    "political_manipulation",
    "financial_exploitation",
    "discrimination",
    "pseudo_science",
    "privacy_violation",
    "deepfakes",
    "social_engineering",
    "market_manipulation",
    "labour_exploitation",
    "hate_speech",
)

SignalKind = Literal["pii", "spam", "profanity", "topic"]


@dataclass(frozen=True)
class PatternMatch:
    """One forbidden-pattern hit; start/end index the ORIGINAL text."""

    category: str
    severity: str
    pattern_id: str
    start: int
    end: int
    matched: str


@dataclass(frozen=True)
class Signal:
    """A non-blocking finding (PII, spam, profanity); positions index the original text."""

    kind: SignalKind
    subtype: str
    severity: str
    start: int | None
    end: int | None


@dataclass(frozen=True)
class LayerAResult:
    """Outcome of screening one text: blocked iff any forbidden pattern matched."""

    blocked: bool
    matches: tuple[PatternMatch, ...]
    signals: tuple[Signal, ...]
    masked_text: str
    pattern_version: str

    @property
    def categories(self) -> tuple[str, ...]:
        """Sorted unique categories of the forbidden-pattern matches."""
        return tuple(sorted({m.category for m in self.matches}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for the decision trail.

        Raw PII never appears: PII signals carry only positions and a placeholder, and any
        matched text that overlaps a PII span is shown with that span masked.
        """
        pii = [(s.start, s.end, s.subtype) for s in self.signals if s.kind == "pii"]
        return {
            "blocked": self.blocked,
            "categories": list(self.categories),
            "pattern_version": self.pattern_version,
            "matches": [
                {
                    "category": m.category,
                    "severity": m.severity,
                    "score": SEVERITY_SCORE[m.severity],
                    "pattern_id": m.pattern_id,
                    "start": m.start,
                    "end": m.end,
                    "matched": _mask_overlaps(m.matched, m.start, pii),
                }
                for m in self.matches
            ],
            "signals": [
                {
                    "kind": s.kind,
                    "subtype": s.subtype,
                    "severity": s.severity,
                    "score": SEVERITY_SCORE[s.severity],
                    "start": s.start,
                    "end": s.end,
                    **({"masked": pii_placeholder(s.subtype)} if s.kind == "pii" else {}),
                }
                for s in self.signals
            ],
        }


def pii_placeholder(subtype: str) -> str:
    """The token that replaces a PII span in masked text, e.g. ``[EMAIL]``."""
    return f"[{subtype.upper()}]"


def _mask_overlaps(text: str, offset: int, pii: Sequence[tuple[int | None, int | None, str]]) -> str:
    for start, end, subtype in sorted(pii, key=lambda p: -(p[0] or 0)):
        if start is None or end is None:
            continue
        lo, hi = max(start - offset, 0), min(end - offset, len(text))
        if lo < hi:
            text = text[:lo] + pii_placeholder(subtype) + text[hi:]
    return text
