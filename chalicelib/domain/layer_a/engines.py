"""Multi-pattern prefilters: which expressions are worth confirming with Python regexes.

Both engines answer the same two questions, and every final result is confirmed with the
same Python regexes, so both engines give identical results:

- ``candidates(words, plain)``: a superset of the entries and detectors whose regex
  matches (entries and the spaced-letters detector on the word view, the signal
  detectors on the plain view, when given). The regex engine answers "all of them" (the
  naive approach: try each regex in turn); the Hyperscan engine scans the word view for
  the anchor words of every expression in one pass, and the plain view for the signal
  detectors in another.
- ``tolerant(stripped)``: exactly the entries whose long-word anchors occur in the word
  view with its separators removed.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Protocol

from chalicelib.domain.layer_a.catalogue import Catalogue
from chalicelib.domain.layer_a.normalise import SPACED_RUN_PREFILTER


class Engine(Protocol):
    name: str

    def candidates(self, words: bytes, plain: bytes | None) -> set[int]: ...

    def tolerant(self, stripped: bytes) -> set[int]: ...


class RegexEngine:
    """Pure-``re`` fallback: no prefiltering at all."""

    name = "re"

    def __init__(self, catalogue: Catalogue) -> None:
        self._words = {e.index for e in catalogue.entries} | {catalogue.spaced_run}
        self._plain = {d.index for d in catalogue.detectors}
        self._long: list[tuple[int, re.Pattern[bytes]]] = [
            (e.index, e.long_anchors) for e in catalogue.entries if e.long_anchors is not None
        ]

    def candidates(self, words: bytes, plain: bytes | None) -> set[int]:
        return self._words | self._plain if plain is not None else set(self._words)

    def tolerant(self, stripped: bytes) -> set[int]:
        return {index for index, regex in self._long if regex.search(stripped)}


class HyperscanEngine:
    """One Hyperscan pass per view."""

    name = "hyperscan"

    def __init__(self, catalogue: Catalogue) -> None:
        import hyperscan

        self._hs = hyperscan
        single = hyperscan.HS_FLAG_SINGLEMATCH
        self._words = _database(
            hyperscan,
            [(e.index, e.anchors) for e in catalogue.entries] + [(catalogue.spaced_run, SPACED_RUN_PREFILTER)],
            single,
        )
        self._plain = _database(
            hyperscan,
            [(d.index, d.prefilter) for d in catalogue.detectors],
            single | hyperscan.HS_FLAG_PREFILTER,
        )
        # Long anchors are plain alternations of literals: Hyperscan matches them exactly
        # as ``re`` does, so the answer is the same in both engines.
        self._stripped = _database(
            hyperscan,
            [(e.index, e.long_anchors.pattern) for e in catalogue.entries if e.long_anchors is not None],
            single,
        )
        self._local = threading.local()

    def _scratch(self) -> tuple[Any, Any, Any]:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = tuple(
                self._hs.Scratch(db) for db in (self._words, self._plain, self._stripped)
            )
        return scratch  # type: ignore[no-any-return]

    def candidates(self, words: bytes, plain: bytes | None) -> set[int]:
        hits: set[int] = set()
        word_scratch, plain_scratch, _ = self._scratch()
        self._words.scan(b" " + words + b" ", match_event_handler=_collect, context=hits, scratch=word_scratch)
        if plain is not None:
            self._plain.scan(plain, match_event_handler=_collect, context=hits, scratch=plain_scratch)
        return hits

    def tolerant(self, stripped: bytes) -> set[int]:
        hits: set[int] = set()
        self._stripped.scan(stripped, match_event_handler=_collect, context=hits, scratch=self._scratch()[2])
        return hits


def _database(hyperscan: Any, expressions: list[tuple[int, bytes]], flags: int) -> Any:
    database = hyperscan.Database()
    database.compile(
        expressions=[e for _, e in expressions],
        ids=[i for i, _ in expressions],
        elements=len(expressions),
        flags=flags,
    )
    return database


def _collect(expr_id: int, start: int, end: int, flags: int, hits: set[int]) -> None:
    hits.add(expr_id)


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
