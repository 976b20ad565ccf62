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
    disguised: bool = False  # a hit in this view was written disguised (spaced out, split, glued)


@dataclass(frozen=True)
class _Hit:
    entry: Entry
    start: int  # positions in the plain and word views (same length)
    end: int
    disguised: bool = False


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
                passes.append(
                    _Pass("exact", collapsed, positions, collapsed_scan.candidates, collapsed_scan, disguised=True)
                )
        # Other readings of the same text, so that no separator can either glue words together
        # or split one: with every symbol a separator ("spy+on+her"), and with the invisible
        # characters removed ("g<ZWSP>un").
        views: list[tuple[bytes, list[int] | None, bool]] = []
        split = view.split_words
        if split is not None:
            views.append((split, None, False))
        glued = view.glued()
        if glued is not None:
            views.append((glued[0], glued[1], True))
        for other, other_positions, disguised in views:
            other_scan = self.engine.scan(other, None)
            passes.append(
                _Pass("exact", other, other_positions, other_scan.candidates, other_scan, disguised=disguised)
            )
            if other_positions is None and self._spaced_run in other_scan.candidates:  # "g+u+n"
                for collapsed, collapsed_positions in collapse_spaced_runs(other, plain):
                    collapsed_scan = self.engine.scan(collapsed, None)
                    passes.append(_Pass(
                        "exact", collapsed, collapsed_positions, collapsed_scan.candidates, collapsed_scan,
                        disguised=True,
                    ))
        tolerant = dict.fromkeys(self.engine.tolerant(strip_spaces(words)))
        if split is not None:
            tolerant.update(dict.fromkeys(self.engine.tolerant(strip_spaces(split))))
        if tolerant:
            passes.append(_Pass("tolerant", words, None, tolerant, None, disguised=True))
            if split is not None:
                passes.append(_Pass("tolerant", split, None, tolerant, None, disguised=True))
        hits: dict[tuple[int, int, int], _Hit] = {}
        for one in passes:
            for index in one.candidates:
                entry = self._entries.get(index)
                if entry is not None and entry.kind != "allow":
                    self._try(hits, entry, one, one.candidates[index], plain)
        # Allow entries only matter when something they could clear was found, and intent
        # entries when a topic noun was found.
        found_categories = {h.entry.category for h in hits.values() if h.entry.kind == "forbidden"}
        topic_categories = {h.entry.category for h in hits.values() if h.entry.needs_intent}
        if found_categories:
            clearing = [e for e in self._allows if e.clears & found_categories or e.confirms & topic_categories]
            for one in passes:
                for entry in clearing:
                    if one.scan is not None:
                        self._try(hits, entry, one, one.scan.allow_starts(entry.index), plain)
                    elif entry.index in one.candidates:
                        self._try(hits, entry, one, one.candidates[entry.index], plain)

        merged = _merge(hits.values())
        allows = [h for h in merged if h.entry.kind == "allow" and h.entry.clears]
        intents = [h for h in merged if h.entry.confirms]
        matches: list[PatternMatch] = []
        found: list[Signal] = []
        for hit in merged:
            if hit.entry.kind == "allow" or _cleared(hit, allows, plain):
                continue
            start, end = view.original_span(hit.start, hit.end)
            if hit.entry.kind == "forbidden":
                e = hit.entry
                if (
                    e.needs_intent
                    and not (
                        hit.disguised
                        or _disguised(text[start:end])
                        or _bare(words, hit)
                        or _confirmed(hit, intents, split if split is not None else words, plain)
                    )
                ):
                    # A topic noun with no intent: reported, not blocked.
                    found.append(Signal("topic", e.pattern_id, "low", start, end))
                    continue
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
            self._collect(
                hits, entry, regex, where.view, starts, plain=plain, positions=where.positions,
                disguised=where.disguised,
            )

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
        disguised: bool = False,
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
            key = (entry.index, start, end)
            known = hits.get(key)
            if known is None or (known.disguised and not disguised):  # plainly written wins
                hits[key] = _Hit(entry, start, end, disguised)

    @staticmethod
    def _confirm(
        index: int, regex: re.Pattern[bytes], plain: bytes, candidates: Candidates
    ) -> list[re.Match[bytes]]:
        return list(regex.finditer(plain)) if index in candidates else []

    def _spam(self, view: View, candidates: Candidates) -> list[Signal]:
        # Capitals alone are no spam signal: headlines and shouting are not spam (issue 13, finding 7).
        found: list[Signal] = []
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
            merged[-1] = _Hit(last.entry, last.start, max(last.end, hit.end), last.disguised and hit.disguised)
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


# How close an intent entry must be to the topic noun, in words between them: "sentence":
# on either side, ignoring punctuation (which a separator could forge); "near": right before
# it ("set up a surveillance network"); "next": right after it ("... is fine"); "adjacent":
# the next word ("phishing kit"); "lead": the
# first words of the text or of a sentence, up to 12 words before it ("Throw a grenade ...").
WORDS_BETWEEN = {"sentence": 12, "near": 2, "next": 3, "adjacent": 0, "lead": 12}
_NEGATION = frozenset({b"not", b"never", b"no", b"t"})  # "don't" reads "don t" in the word view
_SENTENCE_START = re.compile(rb"(?:^|[.!?;:\n])[\s\x1f\"'(\-]*$")


def _confirmed(hit: _Hit, intents: list[_Hit], words: bytes, plain: bytes) -> bool:
    """Whether an intent entry of the hit's category is close enough to it (WORDS_BETWEEN).
    A word of the topic itself ("trade" in "arms trade") does not count, nor an act negated
    in between ("do not work")."""
    for intent in intents:
        if hit.entry.category not in intent.entry.confirms:
            continue
        scope = intent.entry.scope
        if scope == "lead" and not _SENTENCE_START.search(plain, 0, intent.start):
            continue
        if hit.start <= intent.start and intent.end <= hit.end and scope != "lead":
            continue
        if intent.start < hit.end and hit.start < intent.end:
            return True
        if intent.end <= hit.start and scope != "next":
            between = words[intent.end : hit.start].split()
        elif hit.end <= intent.start and scope not in ("near", "lead"):  # "next", "adjacent", "sentence"
            between = words[hit.end : intent.start].split()
        else:
            continue
        if len(between) <= WORDS_BETWEEN[scope] and _NEGATION.isdisjoint(between):
            return True
    return False


_NATURAL = re.compile(r"[A-Za-z]+(?:[\s'\u2019-]+[A-Za-z]+)*")


def _disguised(matched: str) -> bool:
    """Whether the original text of a match was written to dodge a screen: anything but
    plain ASCII letters in lower, Title or UPPER case per word (digits, symbols, other
    scripts, invisible characters, "SuRvEiLLaNcE")."""
    if not _NATURAL.fullmatch(matched):
        return True
    return not all(w.islower() or w.isupper() or w.istitle() for w in re.split(r"[\s'\u2019-]+", matched))


def _bare(words: bytes, hit: _Hit) -> bool:
    """A text that is nothing but the hit: no discussion to read it in."""
    return not words[: hit.start].strip() and not words[hit.end :].strip()


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
