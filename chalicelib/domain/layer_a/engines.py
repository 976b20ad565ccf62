"""Multi-pattern prefilters: which expressions are worth confirming with Python regexes, and where.

Both engines answer the same questions, and every final result is confirmed with the same
Python regexes at "the match at each start position", so both engines give identical
results:

- ``scan(words, plain)``: for one word view, the candidates: a superset of the forbidden
  and profanity entries whose regex matches, each with the positions where its matches
  can start (None: anywhere), plus the spaced-letters detector (word view) and, when the
  plain view is given, the signal detectors (plain view); and, on demand, the same for
  one allow entry (allow entries are only tried when something they could clear was
  found).
- ``tolerant(stripped)``: the entries one of whose keywords occurs in the word view with
  its separators removed (a superset of those whose tolerant regex matches).

The regex engine answers "every entry, anywhere": the naive approach of trying each regex
in turn. The Hyperscan engine works in stages, each cheap enough for the next to run
rarely:

1. one scan of the padded word view for the literal spellings of every word that an
   expression requires (Hyperscan reports each literal once);
2. in Python, the expressions one of whose anchor literals occurred and whose
   requirements hold (for the benign prose of the platform's causes, the context
   patterns "children … work", "monitor … phones" pass this, a handful per KB);
3. for each of those, one scan with a database of that expression alone (its exact
   pattern, without look-arounds, on the padded view), which tells whether it matches
   anywhere: context words far apart stop here, with no Python regex run at all;
4. for the few that do match, one scan for the literals their matches begin with gives
   the start positions, where the Python regex is tried.

Databases come prebuilt from ``patterns/layer_a.hsdb`` when it matches (see hsdb.py);
otherwise stage 3 is skipped (it only saves time) and the others are compiled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, Protocol

from chalicelib.domain.layer_a import hsdb
from chalicelib.domain.layer_a.catalogue import Catalogue, Entry
from chalicelib.domain.layer_a.dsl import Literals, Requirement, is_frequent
from chalicelib.domain.layer_a.normalise import SPACED_RUN_PREFILTER

# Candidate id -> where its matches can start in the word view (None: anywhere).
Candidates = dict[int, list[int] | None]
# A Hyperscan match handler: (expression id, start, end, flags, context) -> None.
Handler = Callable[[int, int, int, int, Any], None]


class ViewScan(Protocol):
    candidates: Candidates

    def allow_starts(self, index: int) -> list[int] | None: ...


class Engine(Protocol):
    name: str

    def scan(self, words: bytes, plain: bytes | None) -> ViewScan: ...

    def tolerant(self, stripped: bytes) -> set[int]: ...


class _Everywhere:
    def __init__(self, candidates: Candidates) -> None:
        self.candidates = candidates

    def allow_starts(self, index: int) -> list[int] | None:
        return None


class RegexEngine:
    """Pure-``re`` fallback: no prefiltering of the views at all."""

    name = "re"

    def __init__(self, catalogue: Catalogue) -> None:
        import re

        self._words = {e.index for e in catalogue.entries if e.kind != "allow"} | {catalogue.spaced_run}
        self._plain = {d.index for d in catalogue.detectors}
        self._keywords = [(e.index, re.compile(e.keywords)) for e in catalogue.entries if e.keywords]

    def scan(self, words: bytes, plain: bytes | None) -> ViewScan:
        ids = self._words | self._plain if plain is not None else self._words
        return _Everywhere(dict.fromkeys(ids))

    def tolerant(self, stripped: bytes) -> set[int]:
        return {index for index, regex in self._keywords if regex.search(stripped)}


def _item_literals(requirement: Requirement) -> Literals:
    """Literals one of which occurs wherever a requirement holds: the word's own, or for
    alternatives the literals of the rarest requirement of each (a cheap superset test)."""
    if isinstance(requirement, frozenset):
        return requirement
    return frozenset().union(*(min(map(_item_literals, alt), key=len) for alt in requirement))


@cache
def _prune(literals: Literals) -> Literals:
    """The same test with fewer literals to report: a literal that starts with another one
    of the set ending in "*" (" shares " and " share") occurs only where that one does."""
    open_ = tuple(literal for literal in literals if not literal.endswith(" "))
    if not open_:
        return literals
    kept = {literal for literal in literals if literal in open_ or not literal.startswith(open_)}
    return frozenset(
        literal for literal in kept if not literal.startswith(tuple(o for o in open_ if o != literal))
    )


def _needs(entry: Entry) -> list[list[Literals]]:
    """For each alternative, the literal sets (one of each must occur) it requires, leaving
    out the words so frequent that looking for them filters nothing."""
    return [[_prune(need) for need in map(_item_literals, alt) if not is_frequent(need)] for alt in entry.requires]


def _anchors(entry: Entry) -> Literals:
    return _prune(entry.anchors)


class _Layout:
    """The engine's databases, as specs (shared by the engine and the prebuilt file)."""

    def __init__(self, catalogue: Catalogue, hyperscan: Any) -> None:
        single = int(hyperscan.HS_FLAG_SINGLEMATCH)

        def literals_of(entry: Entry) -> set[str]:
            return {literal for alt in _needs(entry) for need in alt for literal in need} | set(_anchors(entry))

        screened = set().union(*(literals_of(e) for e in catalogue.entries if e.kind != "allow"))
        # Literals only allow entries need are looked for only when an allow entry is tried
        # (after a forbidden hit), in a second database.
        allow_only = set().union(*(literals_of(e) for e in catalogue.entries if e.kind == "allow")) - screened
        literals = sorted(screened) + sorted(allow_only)
        self.literal_ids = {literal: i for i, literal in enumerate(literals)}
        self.spaced_run = len(literals)
        self.words = hsdb.Spec(
            (
                *((self.literal_ids[literal], literal.encode(), single) for literal in sorted(screened)),
                (self.spaced_run, SPACED_RUN_PREFILTER, single),
            )
        )
        self.allow_words = hsdb.Spec(
            tuple((self.literal_ids[literal], literal.encode(), single) for literal in sorted(allow_only)),
            literal=True,
        )
        prefilter = single | int(hyperscan.HS_FLAG_PREFILTER)
        self.plain = hsdb.Spec(tuple((d.index, d.prefilter, prefilter) for d in catalogue.detectors))
        # Keywords are plain alternations of literals: Hyperscan matches them exactly as
        # ``re`` does, so both engines pick the same expressions for the tolerant pass.
        self.stripped = hsdb.Spec(tuple((e.index, e.keywords, single) for e in catalogue.entries if e.keywords))
        self._single = single

    def exact(self, entry: Entry) -> hsdb.Spec:
        """The whole expression, on the padded word view: does it match anywhere?"""
        return hsdb.Spec(((0, entry.compiled.padded.encode(), self._single),))

    @staticmethod
    def heads(entry: Entry) -> tuple[hsdb.Spec, tuple[int, ...]]:
        """The literals every match begins with (each reported wherever it occurs), and their lengths."""
        heads = sorted(entry.heads)
        return hsdb.Spec(tuple((i, h.encode(), 0) for i, h in enumerate(heads)), literal=True), tuple(map(len, heads))


def database_specs(catalogue: Catalogue) -> Iterator[hsdb.Spec]:
    """Every database the Hyperscan engine may use for this catalogue (for the prebuilt file)."""
    import hyperscan

    layout = _Layout(catalogue, hyperscan)
    yield layout.words
    yield layout.allow_words
    yield layout.plain
    yield layout.stripped
    for entry in catalogue.entries:
        yield layout.heads(entry)[0]
        yield layout.exact(entry)


class HyperscanEngine:
    """Hyperscan stages (see the module docstring) with Python requirement checks."""

    name = "hyperscan"

    def __init__(self, catalogue: Catalogue, store: hsdb.Store | None = None) -> None:
        import hyperscan

        self._hs = hyperscan
        self._store = hsdb.load_store() if store is None else store
        self._layout = layout = _Layout(catalogue, hyperscan)
        self._entries = {e.index: e for e in catalogue.entries}
        ids = layout.literal_ids
        # Entry -> its alternatives -> their requirements as sets of literal ids (any of).
        self._needs: dict[int, list[list[frozenset[int]]]] = {
            e.index: [[frozenset(ids[literal] for literal in need) for need in alt] for alt in _needs(e)]
            for e in catalogue.entries
        }
        # An entry is checked only when one of its anchor literals (its rarest words) occurs.
        self._by_literal: dict[int, list[int]] = {}
        for e in catalogue.entries:
            if e.kind != "allow":
                for literal in sorted(_anchors(e)):
                    self._by_literal.setdefault(ids[literal], []).append(e.index)
        self._anchor_ids = {e.index: frozenset(ids[literal] for literal in _anchors(e)) for e in catalogue.entries}
        self._spaced_run = catalogue.spaced_run
        self._spaced_id = layout.spaced_run
        self._words = self._database(layout.words)
        self._allow_words = self._database(layout.allow_words) if layout.allow_words.expressions else None
        self._plain = self._database(layout.plain)
        self._stripped = self._database(layout.stripped)
        self._exact: dict[int, Any] = {}  # entry -> its prebuilt database, or None (none usable)
        self._heads: dict[int, tuple[Any, tuple[int, ...]]] = {}
        self._local = threading.local()

    def _database(self, spec: hsdb.Spec, *, compile_missing: bool = True) -> Any:
        database = self._store.load(self._hs, spec)
        if database is None and compile_missing:
            database = hsdb.compile_database(self._hs, spec)
        return database

    def _scratches(self) -> dict[int, Any]:
        """This thread's scratch spaces (Hyperscan needs one per database and thread)."""
        scratches: dict[int, Any] | None = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = {}
        return scratches

    def _scan(self, scratches: dict[int, Any], database: Any, data: bytes, handler: Handler, context: Any) -> None:
        scratch = scratches.get(id(database))
        if scratch is None:
            scratch = scratches[id(database)] = self._hs.Scratch(database)
        database.scan(data, handler, 0, context, scratch)

    def _holds(self, index: int, present: set[int]) -> bool:
        """Whether some alternative of the entry has all it requires among the present literals."""
        for alt in self._needs[index]:
            for need in alt:
                if need.isdisjoint(present):
                    break
            else:
                return True
        return False

    def starts(self, index: int, padded: bytes, scratches: dict[int, Any] | None = None) -> list[int]:
        """Where matches of an entry whose requirements hold can start (sorted; may be empty)."""
        if scratches is None:
            scratches = self._scratches()
        exact = self._exact.get(index, self)
        if exact is self:
            exact = self._exact[index] = self._database(
                self._layout.exact(self._entries[index]), compile_missing=False
            )
        if exact is not None:
            found: set[int] = set()
            self._scan(scratches, exact, padded, _collect, found)
            if not found:
                return []
        heads = self._heads.get(index)
        if heads is None:
            spec, lengths = self._layout.heads(self._entries[index])
            heads = self._heads[index] = (self._database(spec), lengths)
        starts: list[int] = []
        self._scan(scratches, heads[0], padded, _head_start, (starts, heads[1]))
        return sorted(set(starts))

    def scan(self, words: bytes, plain: bytes | None) -> ViewScan:
        scratches = self._scratches()
        padded = b" " + words + b" "
        present: set[int] = set()
        self._scan(scratches, self._words, padded, _collect, present)
        found: Candidates = {}
        checked: set[int] = set()
        by_literal = self._by_literal
        for literal in present:
            for index in by_literal.get(literal, ()):
                if index not in checked:
                    checked.add(index)
                    if self._holds(index, present):
                        starts = self.starts(index, padded, scratches)
                        if starts:
                            found[index] = starts
        if self._spaced_id in present:
            found[self._spaced_run] = None
        if plain is not None:
            hits: set[int] = set()
            self._scan(scratches, self._plain, plain, _collect, hits)
            found.update(dict.fromkeys(hits))
        return _HyperscanScan(self, padded, present, found)

    def allow_present(self, padded: bytes, present: set[int]) -> set[int]:
        """The present literals, with those only allow entries need."""
        if self._allow_words is None:
            return present
        found = set(present)
        self._scan(self._scratches(), self._allow_words, padded, _collect, found)
        return found

    def allow_starts(self, index: int, padded: bytes, present: set[int]) -> list[int]:
        if self._anchor_ids[index].isdisjoint(present) or not self._holds(index, present):
            return []
        return self.starts(index, padded)

    def tolerant(self, stripped: bytes) -> set[int]:
        hits: set[int] = set()
        if stripped:
            self._scan(self._scratches(), self._stripped, stripped, _collect, hits)
        return hits


class _HyperscanScan:
    def __init__(self, engine: HyperscanEngine, padded: bytes, present: set[int], candidates: Candidates) -> None:
        self.candidates = candidates
        self._engine = engine
        self._padded = padded
        self._present = present
        self._allow_present: set[int] | None = None

    def allow_starts(self, index: int) -> list[int] | None:
        if self._allow_present is None:
            self._allow_present = self._engine.allow_present(self._padded, self._present)
        return self._engine.allow_starts(index, self._padded, self._allow_present)


def _collect(expr_id: int, start: int, end: int, flags: int, hits: set[int]) -> None:
    hits.add(expr_id)


def _head_start(expr_id: int, start: int, end: int, flags: int, context: tuple[list[int], tuple[int, ...]]) -> None:
    # The literal is " word…", ending at end in the padded view; the word starts where its
    # space does in the padded view, which is the word's own position in the unpadded view.
    context[0].append(end - context[1][expr_id])


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
