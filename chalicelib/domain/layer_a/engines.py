"""Multi-pattern prefilters: which expressions are worth confirming with Python regexes.

Both engines answer the same two questions, and every final result is confirmed with the
same Python regexes, so both engines give identical results:

- ``candidates(words, plain)``: a superset of the entries and detectors whose regex
  matches (entries and the spaced-letters detector on the word view, the signal
  detectors on the plain view, when given). The regex engine answers "all of them" (the
  naive approach: try each regex in turn, everywhere); the Hyperscan engine scans the
  word view in one pass for every word that expressions require, keeps the expressions
  whose requirements hold, and for each of those finds where its matches can start (a
  small scan for its first words); allow entries are always kept (they are only tried
  when something they could clear was found); another pass over the plain view runs
  the signal detectors' prefilters.
- ``tolerant(stripped)``: exactly the entries one of whose keywords occurs in the word
  view with its separators removed (both engines search the same regex).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Protocol

from chalicelib.domain.layer_a.catalogue import Catalogue
from chalicelib.domain.layer_a.dsl import FREQUENT, Requirement
from chalicelib.domain.layer_a.normalise import SPACED_RUN_PREFILTER

# Candidate id -> where its matches can start in the word view (None: anywhere).
Candidates = dict[int, list[int] | None]


class Engine(Protocol):
    name: str

    def candidates(self, words: bytes, plain: bytes | None) -> Candidates: ...

    def tolerant(self, stripped: bytes) -> set[int]: ...


class RegexEngine:
    """Pure-``re`` fallback: no prefiltering of the views at all."""

    name = "re"

    def __init__(self, catalogue: Catalogue) -> None:
        self._words = {e.index for e in catalogue.entries} | {catalogue.spaced_run}
        self._plain = {d.index for d in catalogue.detectors}
        self._keywords = [(e.index, re.compile(e.keywords)) for e in catalogue.entries if e.keywords]

    def candidates(self, words: bytes, plain: bytes | None) -> Candidates:
        ids = self._words | self._plain if plain is not None else self._words
        return dict.fromkeys(ids)

    def tolerant(self, stripped: bytes) -> set[int]:
        return {index for index, regex in self._keywords if regex.search(stripped)}


def _item_words(requirement: Requirement) -> set[str]:
    """Words one of which occurs wherever a requirement holds: the word itself, or for
    alternatives the words of the rarest requirement of each (a cheap superset test)."""
    if isinstance(requirement, str):
        return {requirement}
    return {w for alt in requirement for w in min((_item_words(item) for item in alt), key=len)}


class HyperscanEngine:
    """One Hyperscan pass per view, and a small one per candidate for where it starts."""

    name = "hyperscan"

    def __init__(self, catalogue: Catalogue) -> None:
        import hyperscan

        self._hs = hyperscan
        single = hyperscan.HS_FLAG_SINGLEMATCH
        screened = [e for e in catalogue.entries if e.kind != "allow"]
        words = sorted(
            {w for e in screened for alt in e.requires for item in alt for w in _item_words(item)} - FREQUENT
            | {w for e in screened for w in e.anchors}
        )
        first_word = catalogue.spaced_run + 1
        ids = {w: first_word + i for i, w in enumerate(words)}
        # Expression -> its alternatives -> their requirements as sets of word ids (any of),
        # leaving out requirements that a frequent word satisfies.
        self._needs: dict[int, list[list[frozenset[int]]]] = {
            e.index: [
                [frozenset(ids[w] for w in need) for need in map(_item_words, alt) if not need & FREQUENT]
                for alt in e.requires
            ]
            for e in screened
        }
        # An expression is checked only when one of its anchors (rarest words) occurs.
        self._by_word: dict[int, list[int]] = {}
        for e in screened:
            for word in e.anchors:
                self._by_word.setdefault(ids[word], []).append(e.index)
        self._heads = {e.index: e.heads for e in screened}
        self._head_databases: dict[int, Any] = {}
        self._always = {e.index for e in catalogue.entries if e.kind == "allow"}
        self._spaced_run = catalogue.spaced_run
        self._words = _database(
            hyperscan,
            [(ids[w], w.encode(), single) for w in words] + [(catalogue.spaced_run, SPACED_RUN_PREFILTER, single)],
        )
        self._plain = _database(
            hyperscan, [(d.index, d.prefilter, single | hyperscan.HS_FLAG_PREFILTER) for d in catalogue.detectors]
        )
        # Keywords are plain alternations of literals: Hyperscan matches them exactly as
        # ``re`` does, so both engines pick the same expressions for the tolerant pass.
        self._stripped = _database(hyperscan, [(e.index, e.keywords, single) for e in catalogue.entries if e.keywords])
        self._local = threading.local()

    def _scratch(self, database: Any) -> Any:
        scratches: dict[int, Any] | None = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = {}
        scratch = scratches.get(id(database))
        if scratch is None:
            scratch = scratches[id(database)] = self._hs.Scratch(database)
        return scratch

    def _starts(self, index: int, padded: bytes) -> list[int]:
        """Where the heads of an expression start (in the unpadded word view)."""
        database = self._head_databases.get(index)
        if database is None:
            database = self._head_databases[index] = _database(
                self._hs, [(0, self._heads[index], self._hs.HS_FLAG_SOM_LEFTMOST)]
            )
        starts: list[int] = []
        database.scan(padded, match_event_handler=_start, context=starts, scratch=self._scratch(database))
        # A head starts at the space before its word: in the unpadded view, at the word.
        return sorted(set(starts))

    def candidates(self, words: bytes, plain: bytes | None) -> Candidates:
        present: set[int] = set()
        padded = b" " + words + b" "
        self._words.scan(padded, match_event_handler=_collect, context=present, scratch=self._scratch(self._words))
        found: Candidates = dict.fromkeys(self._always)
        checked: set[int] = set()
        for word_id in present:
            for index in self._by_word.get(word_id, ()):
                if index not in checked:
                    checked.add(index)
                    if any(all(not need.isdisjoint(present) for need in alt) for alt in self._needs[index]):
                        found[index] = self._starts(index, padded)
        if self._spaced_run in present:
            found[self._spaced_run] = None
        if plain is not None:
            hits: set[int] = set()
            self._plain.scan(plain, match_event_handler=_collect, context=hits, scratch=self._scratch(self._plain))
            found.update(dict.fromkeys(hits))
        return found

    def tolerant(self, stripped: bytes) -> set[int]:
        hits: set[int] = set()
        if stripped:
            self._stripped.scan(
                stripped, match_event_handler=_collect, context=hits, scratch=self._scratch(self._stripped)
            )
        return hits


def _database(hyperscan: Any, expressions: list[tuple[int, bytes, int]]) -> Any:
    database = hyperscan.Database()
    database.compile(
        expressions=[e for _, e, _ in expressions],
        ids=[i for i, _, _ in expressions],
        elements=len(expressions),
        flags=[f for _, _, f in expressions],
    )
    return database


def _collect(expr_id: int, start: int, end: int, flags: int, hits: set[int]) -> None:
    hits.add(expr_id)


def _start(expr_id: int, start: int, end: int, flags: int, starts: list[int]) -> None:
    starts.append(start)


def build_engine(catalogue: Catalogue, name: str | None = None) -> Engine:
    """The named engine, or Hyperscan when it can be imported and the regex engine otherwise."""
    if name == "re":
        return RegexEngine(catalogue)
    try:
        return HyperscanEngine(catalogue)
    except ImportError:
        if name == "hyperscan":
            raise
        return RegexEngine(catalogue)
