"""The versioned pattern file, loaded once and compiled for both matching engines.

Loading parses every expression (the engines need what each one requires); the Python
regexes are compiled only when an expression is first tried, so that the first screen
of a process (a Lambda cold start) does not pay for the hundreds it will never run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

from chalicelib.domain.layer_a import dsl
from chalicelib.domain.layer_a.model import CATEGORIES, SEVERITY_SCORE

PATTERN_FILE = Path(__file__).resolve().parent.parent / "patterns" / "forbidden_patterns.json"

EntryKind = Literal["forbidden", "allow", "profanity"]


@dataclass(frozen=True)
class Entry:
    """One compiled expression of the pattern file."""

    index: int
    kind: EntryKind
    pattern_id: str
    category: str  # forbidden: its category; allow: "" or the category it clears; profanity: ""
    severity: str
    expr: str
    compiled: dsl.Compiled = field(repr=False)
    clears: frozenset[str]  # allow entries: the categories they clear
    scope: str  # allow: "overlap" or "sentence"; intent: "sentence", "near", "next", "adjacent", "lead"
    numeric: bool  # the expression has digits, so a match need not contain a letter
    # Forbidden entries: a topic noun ("surveillance", "propaganda"), which blocks only when an
    # intent entry ties it to an act ("set up a surveillance network"), when it was written
    # disguised, or when it is all the text.
    needs_intent: bool = False
    # Intent entries (kept with the allow entries, tried only when a topic noun of their
    # categories was found): the categories they confirm.
    confirms: frozenset[str] = frozenset()

    @cached_property
    def exact(self) -> re.Pattern[bytes]:
        """The regex on the word view (compiled on first use)."""
        return re.compile(self.compiled.exact.encode())

    @cached_property
    def tolerant(self) -> re.Pattern[bytes] | None:
        """The split-tolerant regex of the keywords; None when it cannot differ from exact."""
        return re.compile(self.compiled.tolerant.encode()) if self.compiled.keywords else None

    @property
    def requires(self) -> tuple[tuple[dsl.Requirement, ...], ...]:
        return self.compiled.requires

    @property
    def anchors(self) -> dsl.Literals:
        return self.compiled.anchors

    @property
    def heads(self) -> dsl.Literals:
        return self.compiled.heads

    @property
    def keywords(self) -> bytes:
        """Tolerant runs only where this matches the stripped view (b"": never)."""
        return self.compiled.keywords.encode()


@dataclass(frozen=True)
class Detector:
    """A signal detector on the plain view: a Hyperscan-compatible prefilter matching a
    superset of the regex that confirms it."""

    index: int
    name: str
    prefilter: bytes
    confirm: re.Pattern[bytes]


_DETECTORS: tuple[tuple[str, bytes, bytes], ...] = (
    (
        "email",
        # \x1f: an invisible separator (normalise.INVISIBLE) hidden inside an address
        rb"[a-z0-9._%+\x1f-]@[a-z0-9\x1f-]{1,63}(?:\.[a-z0-9\x1f-]{1,63})*\.[a-z]{2}",
        rb"(?<![a-z0-9._%+\x1f-])[a-z0-9._%+\x1f-]{1,64}@[a-z0-9\x1f-]{1,63}(?:\.[a-z0-9\x1f-]{1,63})*\.[a-z]{2,24}"
        rb"(?![a-z0-9-])",
    ),
    (
        "number",
        rb"\d[\d .()-]{5,24}\d",
        rb"(?<![a-z0-9+])(?:\+ ?)?(?:\(\d{1,5}\) ?)?\d[\d .()-]{5,24}\d(?![a-z0-9])",
    ),
    ("url", rb"https?://|www\.", rb"(?<![a-z0-9])(?:https?://|www\.)[^\s<>\"']+"),
    ("punctuation_run", rb"[!?]{4,}", rb"[!?]{4,}"),
    ("character_flood", b"|".join(bytes([c]) + b"{7,}" for c in b"abcdefghijklmnopqrstuvwxyz"), rb"([a-z])\1{6,}"),
)


@dataclass(frozen=True)
class Catalogue:
    version: str
    entries: tuple[Entry, ...]
    detectors: tuple[Detector, ...]
    spaced_run: int  # the id of the spaced-out letters detector (on the word view)

    @property
    def forbidden(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.kind == "forbidden")

    def detector(self, name: str) -> Detector:
        return next(d for d in self.detectors if d.name == name)


_VOCABULARY_REF = re.compile(r"@([a-z_]+)")


def expand(expr: str, vocabulary: dict[str, str]) -> str:
    """Replace each ``@name`` by the word list of that name, as a ``[a|b|c]`` choice."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in vocabulary:
            raise ValueError(f"unknown vocabulary @{name} in {expr!r}")
        return "[" + vocabulary[name] + "]"

    return _VOCABULARY_REF.sub(substitute, expr)


def _entry(
    index: int, kind: EntryKind, raw: dict[str, Any], *, category: str, severity: str, vocabulary: dict[str, str]
) -> Entry:
    expanded = expand(raw["expr"], vocabulary)
    try:
        compiled = dsl.compile_expr(expanded)
    except dsl.PatternSyntaxError as exc:
        raise ValueError(f"pattern {raw['id']}: {exc}") from exc
    if severity not in SEVERITY_SCORE:
        raise ValueError(f"pattern {raw['id']}: unknown severity {severity!r}")
    role = raw.get("role", "clear") if kind == "allow" else ""
    named = frozenset(raw["categories"]) if kind == "allow" else frozenset()
    clears = named if role == "clear" else frozenset()
    confirms = named if role == "intent" else frozenset()
    scopes = {
        "clear": ("overlap", "sentence"),
        "intent": ("sentence", "near", "next", "adjacent", "lead"),
        "": ("overlap",),
    }
    if raw.get("scope", "overlap") not in scopes[role]:
        raise ValueError(f"{raw['id']}: scope {raw.get('scope', 'overlap')!r} is not allowed here")
    unknown = named - set(CATEGORIES)
    if unknown:
        raise ValueError(f"{raw['id']}: unknown categories {sorted(unknown)}")
    if kind == "allow" and not named:
        raise ValueError(f"{raw['id']}: names no category")
    return Entry(
        index=index,
        kind=kind,
        pattern_id=raw["id"],
        category=category,
        severity=severity,
        expr=raw["expr"],
        compiled=compiled,
        clears=clears,
        scope=raw.get("scope", "overlap"),
        numeric=any(ch.isdigit() for ch in expanded),
        needs_intent=kind == "forbidden" and bool(raw.get("needs_intent")),
        confirms=confirms,
    )


def build_catalogue(data: dict[str, Any]) -> Catalogue:
    """Validate and compile the parsed pattern file."""
    categories = data["categories"]
    if set(categories) != set(CATEGORIES):
        raise ValueError(f"pattern file must define exactly the categories {CATEGORIES}")
    vocabulary: dict[str, str] = data.get("vocabulary", {})
    entries: list[Entry] = []
    seen: set[str] = set()

    def add(kind: EntryKind, raw: dict[str, Any], category: str, severity: str) -> None:
        if raw["id"] in seen:
            raise ValueError(f"duplicate pattern id {raw['id']}")
        seen.add(raw["id"])
        entries.append(_entry(len(entries), kind, raw, category=category, severity=severity, vocabulary=vocabulary))

    for category in CATEGORIES:
        spec = categories[category]
        for raw in spec["patterns"]:
            add("forbidden", raw, category, raw.get("severity", spec["severity"]))
    for raw in data.get("allow", ()):
        add("allow", raw, "", "low")
    # Intent entries are tried like allow entries, only when a topic noun was found.
    for raw in data.get("intent", ()):
        add("allow", {**raw, "role": "intent"}, "", "low")
    for raw in data.get("profanity", ()):
        add("profanity", raw, "", raw.get("severity", "low"))
    detectors = tuple(
        Detector(len(entries) + i, name, prefilter, re.compile(confirm))
        for i, (name, prefilter, confirm) in enumerate(_DETECTORS)
    )
    return Catalogue(
        version=str(data["version"]),
        entries=tuple(entries),
        detectors=detectors,
        spaced_run=len(entries) + len(detectors),
    )


@cache
def load_catalogue() -> Catalogue:
    """The compiled pattern file (read and compiled once per process, on first use)."""
    return build_catalogue(json.loads(PATTERN_FILE.read_text(encoding="utf-8")))
