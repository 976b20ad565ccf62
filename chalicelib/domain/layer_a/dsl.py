"""The word-level pattern language of the forbidden-pattern file, compiled to regexes.

Expressions are matched against the word view of a text (see normalise.py): lowercase
ASCII letters with leetspeak resolved ("g0n" reads "gon", "$py" reads "spy"), "l" and
"i" merged (both are written "1" and "|"), and every separator a space.

An expression is a sequence of items separated by spaces; consecutive words must be
separated in the text by 1-6 separator characters. Items:

- a word: lowercase letters and digits, starting with one of them or with a group, with
  ``(a|b)`` groups, ``?`` after a letter or group (optional), ``*`` at the end (any
  further letters or digits) and ``~`` inside (an optional gap of 0-3 separators:
  ``deep~fake`` matches "deepfake", "deep fake" and "deep-fake");
- ``[a b|c|d e]``: one of several word sequences; ``[...]?`` makes it optional;
- ``<N>``: up to N arbitrary filler words.

Every expression matches only at word boundaries (no letter or digit immediately before
or after). The compiler emits, from the same syntax tree:

- ``exact``: the Python regex run on the word view;
- ``tolerant``: as ``exact``, but the letters of long words may be separated by up to
  three separators ("sur veillance", "de ep fa ke");
- ``anchors``: words one of which occurs, bounded by spaces, wherever ``exact`` matches
  (the words of the most selective required item), as plain literals that a
  multi-pattern engine compiles and scans quickly;
- ``long_anchors``: the same for ``tolerant``: unbounded long words searched in the word
  view with its spaces removed (empty: ``tolerant`` cannot differ from ``exact``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# How the word view spells letters, digits and leetspeak symbols (see normalise.py).
CANONICAL_FROM = "l0134578@$!|+9"
CANONICAL_TO = "ioieastbasiitg"
_CANONICAL = dict(zip(CANONICAL_FROM, CANONICAL_TO, strict=True))

WORD_GAP = " {1,6}"
JOIN_GAP = " {0,3}"
LETTER_GAP = " {0,3}"
# Words whose letters may be split by separators; shorter ones only when fully spaced.
LONG_WORD_MIN = 5

_WORD_CHAR = re.compile(r"[a-z0-9()|?*~]")


class PatternSyntaxError(ValueError):
    """An expression of the pattern file does not follow the pattern language."""


# --- syntax tree -----------------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    char: str
    optional: bool = False


@dataclass(frozen=True)
class Group:
    alternatives: tuple[tuple[Piece, ...], ...]
    optional: bool = False


@dataclass(frozen=True)
class Suffix:
    pass


@dataclass(frozen=True)
class Join:
    pass


Piece = Letter | Group | Suffix | Join


@dataclass(frozen=True)
class Word:
    source: str
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class Choice:
    alternatives: tuple[tuple[Item, ...], ...]
    optional: bool = False


@dataclass(frozen=True)
class Filler:
    count: int


Item = Word | Choice | Filler


@dataclass(frozen=True)
class Compiled:
    exact: str
    tolerant: str
    anchors: tuple[str, ...]  # anchor words (see anchor_regex): one occurs wherever exact matches
    long_anchors: tuple[str, ...]  # separator-free long words: one occurs wherever tolerant matches


# --- parsing ---------------------------------------------------------------------------


def _parse_word(source: str) -> Word:
    pos = 0

    def parse_seq(stop: str) -> tuple[Piece, ...]:
        nonlocal pos
        pieces: list[Piece] = []
        while pos < len(source) and source[pos] not in stop:
            ch = source[pos]
            pos += 1
            if ch.isalnum():
                pieces.append(Letter(ch))
            elif ch == "(":
                alts = [parse_seq("|)")]
                while pos < len(source) and source[pos] == "|":
                    pos += 1
                    alts.append(parse_seq("|)"))
                if pos >= len(source) or source[pos] != ")":
                    raise PatternSyntaxError(f"unclosed group in {source!r}")
                pos += 1
                pieces.append(Group(tuple(alts)))
            elif ch == "?":
                last = pieces.pop() if pieces else None
                if isinstance(last, Letter):
                    pieces.append(Letter(last.char, True))
                elif isinstance(last, Group):
                    pieces.append(Group(last.alternatives, True))
                else:
                    raise PatternSyntaxError(f"'?' must follow a letter or group in {source!r}")
            elif ch == "*":
                if pos != len(source):
                    raise PatternSyntaxError(f"'*' must end the word in {source!r}")
                pieces.append(Suffix())
            elif ch == "~":
                pieces.append(Join())
            else:
                raise PatternSyntaxError(f"unexpected {ch!r} in {source!r}")
        return tuple(pieces)

    pieces = parse_seq("")
    if not pieces or not isinstance(pieces[0], Letter | Group) or pieces[0].optional:
        raise PatternSyntaxError(f"a word must start with a letter or a group: {source!r}")
    return Word(source, pieces)


def _tokenise(expr: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch in "[]|":
            if ch == "]" and i + 1 < len(expr) and expr[i + 1] == "?":
                tokens.append("]?")
                i += 2
            else:
                tokens.append(ch)
                i += 1
        elif ch == "<":
            end = expr.index(">", i)
            tokens.append(expr[i : end + 1])
            i = end + 1
        else:
            start, depth = i, 0
            while i < len(expr) and _WORD_CHAR.match(expr[i]):
                if expr[i] == "(":
                    depth += 1
                elif expr[i] == ")":
                    depth -= 1
                elif expr[i] == "|" and depth == 0:
                    break
                i += 1
            if i == start:
                raise PatternSyntaxError(f"unexpected {ch!r} in {expr!r}")
            tokens.append(expr[start:i])
    return tokens


def parse(expr: str) -> tuple[tuple[Item, ...], ...]:
    """Parse an expression into its top-level alternatives (sequences of items)."""
    tokens = _tokenise(expr)
    pos = 0

    def parse_alts(closing: bool) -> tuple[tuple[tuple[Item, ...], ...], bool]:
        nonlocal pos
        alts: list[tuple[Item, ...]] = []
        items: list[Item] = []
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if tok == "[":
                inner, optional = parse_alts(True)
                items.append(Choice(inner, optional))
            elif tok in ("]", "]?"):
                if not closing:
                    raise PatternSyntaxError(f"unbalanced ']' in {expr!r}")
                alts.append(tuple(items))
                return tuple(alts), tok == "]?"
            elif tok == "|":
                alts.append(tuple(items))
                items = []
            elif tok.startswith("<"):
                items.append(Filler(int(tok[1:-1])))
            else:
                items.append(_parse_word(tok))
        if closing:
            raise PatternSyntaxError(f"unclosed '[' in {expr!r}")
        alts.append(tuple(items))
        return tuple(alts), False

    alts, _ = parse_alts(False)
    for seq in alts:
        _check_seq(seq, expr)
    return alts


def _check_seq(seq: tuple[Item, ...], expr: str) -> None:
    if not seq:
        raise PatternSyntaxError(f"empty alternative in {expr!r}")
    first, last = seq[0], seq[-1]
    if isinstance(first, Filler) or (isinstance(first, Choice) and first.optional) or isinstance(last, Filler):
        raise PatternSyntaxError(f"an expression must begin with a word and not end with a filler: {expr!r}")
    for item in seq:
        if isinstance(item, Choice):
            for inner in item.alternatives:
                _check_seq(inner, expr)


# --- code generation -------------------------------------------------------------------


def canonical(ch: str) -> str:
    """How the word view spells one pattern character."""
    return _CANONICAL.get(ch, ch)


def _pieces(pieces: tuple[Piece, ...], mode: str, first: list[bool]) -> str:
    """Render word pieces; modes: exact, tolerant, anchor (no suffix), stripped (no gaps)."""
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, Letter):
            gap = LETTER_GAP if mode == "tolerant" and not first[0] else ""
            first[0] = False
            atom = gap + canonical(piece.char)
            out.append(f"(?:{atom})?" if piece.optional else atom)
        elif isinstance(piece, Group):
            # Each alternative starts where the group starts.
            at_start = first[0]
            bodies = []
            for alt in piece.alternatives:
                first[0] = at_start
                bodies.append(_pieces(alt, mode, first))
            first[0] = False
            out.append(f"(?:{'|'.join(bodies)})" + ("?" if piece.optional else ""))
        elif isinstance(piece, Suffix):
            out.append("[a-z0-9]*" if mode in ("exact", "tolerant") else "")
        elif mode != "stripped":
            out.append(JOIN_GAP)
    return "".join(out)


def min_letters(pieces: tuple[Piece, ...]) -> int:
    """The fewest letters a word can match."""
    total = 0
    for piece in pieces:
        if isinstance(piece, Letter) and not piece.optional:
            total += 1
        elif isinstance(piece, Group) and not piece.optional:
            total += min(min_letters(alt) for alt in piece.alternatives)
    return total


def _is_long(word: Word) -> bool:
    return min_letters(word.pieces) >= LONG_WORD_MIN


def _word(word: Word, mode: str) -> str:
    effective = mode if mode != "tolerant" or _is_long(word) else "exact"
    return _pieces(word.pieces, effective, [True])


def _seq(seq: tuple[Item, ...], mode: str) -> str:
    """Render a word sequence in exact or tolerant mode."""
    out: list[str] = []
    for index, item in enumerate(seq):
        lead = WORD_GAP if index else ""
        if isinstance(item, Word):
            out.append(lead + _word(item, mode))
        elif isinstance(item, Choice):
            body = "|".join(_seq(alt, mode) for alt in item.alternatives)
            out.append(f"(?:{lead}(?:{body}))" + ("?" if item.optional else ""))
        else:
            out.append(f"(?:{WORD_GAP}[a-z0-9]+){{0,{item.count}}}")
    return "".join(out)


def _anchor_word(word: Word, stripped: bool) -> str:
    """One word as an anchor; a trailing space marks a word whose end is a word end."""
    if stripped:
        return _pieces(word.pieces, "stripped", [True])
    body = _pieces(word.pieces, "anchor", [True])
    return body if isinstance(word.pieces[-1], Suffix) else body + " "


def anchor_regex(words: tuple[str, ...]) -> str:
    """One regex matching any of the anchor words after a space (and before one where
    marked); the scanned word view is padded with a space at each end."""
    ended = [w[:-1] for w in words if w.endswith(" ")]
    open_ended = [w for w in words if not w.endswith(" ")]
    parts = []
    if ended:
        parts.append("(?:" + "|".join(ended) + ") ")
    parts.extend(open_ended)
    return " (?:" + "|".join(parts) + ")"


def _anchor(seq: tuple[Item, ...], long_only: bool) -> tuple[tuple[str, ...], float] | None:
    """The words of the most selective required item of seq (one of them occurs in every
    match), with a selectivity score; with long_only, only long words count, stripped."""
    best: tuple[tuple[str, ...], float] | None = None
    for item in seq:
        candidate: tuple[tuple[str, ...], float] | None = None
        if isinstance(item, Word) and (_is_long(item) or not long_only):
            regex = _anchor_word(item, stripped=long_only)
            candidate = ((regex,), float(min_letters(item.pieces)))
        elif isinstance(item, Choice) and not item.optional:
            subs = [_anchor(alt, long_only) for alt in item.alternatives]
            if all(sub is not None for sub in subs):
                words = tuple(dict.fromkeys(w for sub in subs if sub is not None for w in sub[0]))
                score = min(sub[1] for sub in subs if sub is not None) - math.log2(len(words))
                candidate = (words, score)
        if candidate is not None and (best is None or candidate[1] > best[1]):
            best = candidate
    return best


def _long_words(seq: tuple[Item, ...], acc: dict[str, None]) -> None:
    for item in seq:
        if isinstance(item, Word) and _is_long(item):
            acc[_anchor_word(item, stripped=True)] = None
        elif isinstance(item, Choice):
            for alt in item.alternatives:
                _long_words(alt, acc)


def compile_expr(expr: str) -> Compiled:
    """Compile one expression of the pattern language; raises PatternSyntaxError."""
    alts = parse(expr)
    exact = "|".join(_seq(seq, "exact") for seq in alts)
    tolerant = "|".join(_seq(seq, "tolerant") for seq in alts)
    anchors: dict[str, None] = {}
    long_anchors: dict[str, None] = {}
    for seq in alts:
        anchor = _anchor(seq, long_only=False)
        if anchor is None:  # unreachable: every expression begins with a word
            raise PatternSyntaxError(f"no required word in {expr!r}")
        anchors.update(dict.fromkeys(anchor[0]))
        long_anchor = _anchor(seq, long_only=True)
        if long_anchor is not None:
            long_anchors.update(dict.fromkeys(long_anchor[0]))
        else:
            _long_words(seq, long_anchors)  # only optional long words: any of them
    return Compiled(
        exact=f"(?<![a-z0-9])(?:{exact})(?![a-z0-9])",
        tolerant=f"(?<![a-z0-9])(?:{tolerant})(?![a-z0-9])",
        anchors=tuple(anchors),
        long_anchors=tuple(long_anchors),
    )
