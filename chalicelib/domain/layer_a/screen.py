"""Layer A: the synchronous content screen."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from chalicelib.domain.layer_a import signals as sig
from chalicelib.domain.layer_a.catalogue import Catalogue, Entry, load_catalogue
from chalicelib.domain.layer_a.engines import Candidates, Engine, ViewScan, build_engine
from chalicelib.domain.layer_a.model import LayerAResult, PatternMatch, Signal
from chalicelib.domain.layer_a.normalise import View, collapse_spaced_runs, strip_spaces

_LETTER = re.compile(rb"[a-z]")


@dataclass(frozen=True)
class _Pass:
    """One view to look in: which regexes, where, and how positions map back."""

    kind: str  # "exact" or "tolerant"
    view: bytes
    positions: list[int] | None  # for each position of view, the position in the word view
    candidates: Candidates
    scan: ViewScan | None  # the engine's scan of this view (exact passes)


@dataclass(frozen=True)
class _Hit:
    entry: Entry
    start: int  # positions in the plain and word views (same length)
    end: int


class Screener:
    """Screens texts with one compiled catalogue and one prefilter engine."""

    def __init__(self, catalogue: Catalogue, engine: Engine) -> None:
        self.catalogue = catalogue
        self.engine = engine
        self._entries = {e.index: e for e in catalogue.entries}
        self._allows = [e for e in catalogue.entries if e.kind == "allow"]
        self._spaced_run = catalogue.spaced_run
        self._email = catalogue.detector("email")
        self._number = catalogue.detector("number")
        self._url = catalogue.detector("url")
        self._punctuation = catalogue.detector("punctuation_run")
        self._flood = catalogue.detector("character_flood")

    def evaluate(self, text: str) -> LayerAResult:
        """Screen one text. Blocked iff a forbidden pattern matched and no allow entry cleared it."""
        view = View(text)
        words, plain = view.words, view.plain
        scan = self.engine.scan(words, plain)
        candidates = scan.candidates
        passes = [_Pass("exact", words, None, candidates, scan)]
        if self._spaced_run in candidates:
            for collapsed, positions in collapse_spaced_runs(words, plain):
                collapsed_scan = self.engine.scan(collapsed, None)
                passes.append(_Pass("exact", collapsed, positions, collapsed_scan.candidates, collapsed_scan))
        tolerant = dict.fromkeys(self.engine.tolerant(strip_spaces(words)))
        if tolerant:
            passes.append(_Pass("tolerant", words, None, tolerant, None))
        hits: dict[tuple[int, int, int], _Hit] = {}
        for one in passes:
            for index in one.candidates:
                entry = self._entries.get(index)
                if entry is not None and entry.kind != "allow":
                    self._try(hits, entry, one, one.candidates[index], plain)
        # Allow entries only matter when something they could clear was found.
        found_categories = {h.entry.category for h in hits.values() if h.entry.kind == "forbidden"}
        if found_categories:
            clearing = [e for e in self._allows if e.clears & found_categories]
            for one in passes:
                for entry in clearing:
                    if one.scan is not None:
                        self._try(hits, entry, one, one.scan.allow_starts(entry.index), plain)
                    elif entry.index in one.candidates:
                        self._try(hits, entry, one, one.candidates[entry.index], plain)

        merged = _merge(hits.values())
        allows = [h for h in merged if h.entry.kind == "allow"]
        matches: list[PatternMatch] = []
        found: list[Signal] = []
        for hit in merged:
            if hit.entry.kind == "allow" or _cleared(hit, allows, plain):
                continue
            start, end = view.original_span(hit.start, hit.end)
            if hit.entry.kind == "forbidden":
                e = hit.entry
                matches.append(PatternMatch(e.category, e.severity, e.pattern_id, start, end, text[start:end]))
            else:
                found.append(Signal("profanity", hit.entry.pattern_id, hit.entry.severity, start, end))

        pii = sig.find_pii(
            view,
            self._confirm(self._email.index, self._email.confirm, plain, candidates),
            self._confirm(self._number.index, self._number.confirm, plain, candidates),
        )
        found.extend(pii)
        found.extend(self._spam(view, candidates))
        matches.sort(key=lambda m: (m.start, m.end, m.category, m.pattern_id))
        found.sort(key=lambda s: (s.start if s.start is not None else -1, s.kind, s.subtype, s.end or 0))
        return LayerAResult(
            blocked=bool(matches),
            matches=tuple(matches),
            signals=tuple(found),
            masked_text=sig.mask(text, pii) if pii else text,
            pattern_version=self.catalogue.version,
        )

    def _try(
        self, hits: dict[tuple[int, int, int], _Hit], entry: Entry, where: _Pass, starts: list[int] | None, plain: bytes
    ) -> None:
        if starts is not None and not starts:
            return
        regex = entry.exact if where.kind == "exact" else entry.tolerant
        if regex is not None:
            self._collect(hits, entry, regex, where.view, starts, plain=plain, positions=where.positions)

    @staticmethod
    def _collect(
        hits: dict[tuple[int, int, int], _Hit],
        entry: Entry,
        regex: re.Pattern[bytes],
        view: bytes,
        starts: list[int] | None,
        *,
        plain: bytes,
        positions: list[int] | None,
    ) -> None:
        """The match of regex at each start position where it matches: at the given
        starts, or anywhere (so that how candidates were found does not change results)."""
        for match in _matches(regex, view, starts):
            start, end = match.span()
            if start == end:
                continue
            if positions is not None:
                start, end = positions[start], positions[end - 1] + 1
            # Made only of digits and symbols, it is a number, not a disguised word.
            if not entry.numeric and not _LETTER.search(plain, start, end):
                continue
            hits.setdefault((entry.index, start, end), _Hit(entry, start, end))

    @staticmethod
    def _confirm(
        index: int, regex: re.Pattern[bytes], plain: bytes, candidates: Candidates
    ) -> list[re.Match[bytes]]:
        return list(regex.finditer(plain)) if index in candidates else []

    def _spam(self, view: View, candidates: Candidates) -> list[Signal]:
        found: list[Signal] = []
        caps = sig.caps_signal(view.text, view.raw)
        if caps is not None:
            found.append(caps)
        plain = view.plain
        found.extend(sig.repetition_signals(view.words))
        links = sig.link_signal(len(self._confirm(self._url.index, self._url.confirm, plain, candidates)))
        if links is not None:
            found.append(links)
        punctuation = self._confirm(self._punctuation.index, self._punctuation.confirm, plain, candidates)
        found.extend(sig.run_signals(view, "punctuation_run", punctuation))
        flood = self._confirm(self._flood.index, self._flood.confirm, plain, candidates)
        found.extend(sig.run_signals(view, "character_flood", flood))
        return found


def _matches(regex: re.Pattern[bytes], view: bytes, starts: list[int] | None) -> Iterator[re.Match[bytes]]:
    if starts is not None:
        for start in starts:
            match = regex.match(view, start)
            if match is not None:
                yield match
        return
    position = 0
    while (match := regex.search(view, position)) is not None:
        yield match
        position = match.start() + 1


def _merge(hits: Iterable[_Hit]) -> list[_Hit]:
    """Overlapping hits of one entry (the same words seen in several views) become one."""
    merged: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: (h.entry.index, h.start, -h.end)):
        last = merged[-1] if merged else None
        if last is not None and last.entry.index == hit.entry.index and hit.start < last.end:
            merged[-1] = _Hit(last.entry, last.start, max(last.end, hit.end))
        else:
            merged.append(hit)
    return merged


_SENTENCE_END = re.compile(rb"[.!?;\n]")


def _cleared(hit: _Hit, allows: list[_Hit], plain: bytes) -> bool:
    """An allow entry clears the hits of the categories it names that it overlaps or, with
    scope "sentence", that are in the same sentence."""
    for allow in allows:
        if hit.entry.category not in allow.entry.clears:
            continue
        if allow.start < hit.end and hit.start < allow.end:
            return True
        if allow.entry.scope == "sentence":
            gap_start, gap_end = min(hit.end, allow.end), max(hit.start, allow.start)
            if not _SENTENCE_END.search(plain, gap_start, gap_end):
                return True
    return False


@cache
def screener(engine: str | None = None) -> Screener:
    """The screener with the named engine ("hyperscan" or "re"); by default the fastest available."""
    catalogue = load_catalogue()
    return Screener(catalogue, build_engine(catalogue, engine))


def evaluate(text: str) -> LayerAResult:
    """Screen one text with the forbidden patterns and the signal detectors.

    Pure and deterministic; the pattern file is loaded and compiled on the first call.
    """
    return screener().evaluate(text)
