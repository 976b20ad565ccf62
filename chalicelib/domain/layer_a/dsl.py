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
- ``tolerant``: the keyword alternatives (a single long word, such as "surveil*") with
  letters that may be separated by up to three separators ("sur veillance", "de ep fa ke");
- ``padded``: ``exact`` for a multi-pattern engine (Hyperscan), on the word view padded
  with a space at each end, the word boundaries written as those spaces: it matches
  wherever ``exact`` does (it is the same expression without look-arounds);
- ``requires``: for each alternative, the words it needs (and, for its choices, what
  each alternative of the choice needs), each word as the literal strings it can be in
  the padded word view (" gun ", " guns ", " surveil" for ``surveil*``): plain literals
  that a multi-pattern engine compiles and scans quickly; ``anchors``: the literals of
  each alternative's rarest item; ``heads``: the literals every match begins with (a
  space, then the start of the first word). ``exact`` can match only where an anchor
  occurs and ``requires`` holds, and only right after a head's space;
- ``keywords``: the keywords, one of which occurs, unbounded, in the word view with its
  spaces removed wherever ``tolerant`` matches ("": no keyword, no tolerant regex).

Words are parsed and rendered once per distinct spelling (the vocabulary lists repeat
the same words across many expressions).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache, cached_property

# How the word view spells letters, digits and leetspeak symbols (see normalise.py).
CANONICAL_FROM = "l0134578@$!|+9"
CANONICAL_TO = "ioieastbasiitg"
_CANONICAL = dict(zip(CANONICAL_FROM, CANONICAL_TO, strict=True))

WORD_GAP = " {1,6}"
JOIN_GAP = " {0,3}"
LETTER_GAP = " {0,3}"
# Words so frequent that looking for them costs a prefilter more than it filters (as
# anchor words: between spaces, in the word view's spelling).
_FREQUENT_WORDS = (
    "a an the to of on in at by for and or as is are be it its from with into that this their them they his "
    "her him our your you we us my me not no aii any some how who what out off up do don t s can wiii"
)
FREQUENT = frozenset(f" {w} " for w in _FREQUENT_WORDS.split(" "))
# A word with more spellings than this is required through a regex, not literals.
LITERALS_MAX = 256
# Words whose letters may be split by separators; shorter ones only when fully spaced.
LONG_WORD_MIN = 5
# The most letters a word may add to a pattern word (``*``) or have as a filler (``<N>``).
WORD_MAX = 24

_WORD_CHARS = re.compile(r"[a-z0-9()|?*~]+")


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


# A word that must occur in the padded word view: the literal strings it can be, one of
# which occurs wherever the word does.
Literals = frozenset[str]
# A word that must occur, or alternatives each made of requirements that must all hold.
Requirement = Literals | tuple[tuple["Requirement", ...], ...]


@dataclass(frozen=True)
class Compiled:
    """A parsed expression and what the engines need of it; the regexes are rendered on
    first use (most are never needed in a process: they are tried only where a match is
    possible)."""

    alternatives: tuple[tuple[Item, ...], ...]
    requires: tuple[tuple[Requirement, ...], ...]  # wherever exact matches, one alternative holds
    anchors: Literals  # one of these occurs wherever exact matches (the rarest item's words)
    heads: Literals  # a match of exact starts right after the leading space of one of these
    keywords: str  # matches the stripped view wherever tolerant matches ("": no tolerant regex)

    @cached_property
    def exact(self) -> str:
        """The regex on the word view."""
        body = "|".join(_seq(seq, "exact") for seq in self.alternatives)
        return f"(?:{body})(?![a-z0-9])"

    @cached_property
    def tolerant(self) -> str:
        """The split-tolerant regex of the keyword alternatives ("" when there are none)."""
        return f"(?:{_tolerant(self.alternatives)})(?![a-z0-9])" if self.keywords else ""

    @cached_property
    def padded(self) -> str:
        """exact for Hyperscan, on the padded word view (no look-arounds)."""
        body = "|".join(_seq(seq, "exact", at_start=False) for seq in self.alternatives)
        return f" (?:{body}) "


# --- parsing ---------------------------------------------------------------------------


@cache
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
            run = _WORD_CHARS.match(expr, i)
            if run is None:
                raise PatternSyntaxError(f"unexpected {ch!r} in {expr!r}")
            word = run.group()
            if "(" not in word:
                word = word.partition("|")[0]  # a "|" outside groups ends the word
            else:
                depth = 0
                for end, char in enumerate(word):
                    if char == "(":
                        depth += 1
                    elif char == ")":
                        depth -= 1
                    elif char == "|" and depth == 0:
                        word = word[:end]
                        break
            tokens.append(word)
            i += len(word)
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


def _pieces(pieces: tuple[Piece, ...], mode: str, first: list[bool], bound: bool = False) -> str:
    """Render word pieces; modes: exact, tolerant, anchor (no suffix), stripped (no gaps).

    With bound, the first letter is followed by a check that no letter or digit precedes
    it: the word-start boundary, placed after a literal so that ``re`` can search for the
    literal quickly."""
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, Letter):
            gap = LETTER_GAP if mode == "tolerant" and not first[0] else ""
            char = canonical(piece.char)
            atom = gap + char + (f"(?<![a-z0-9]{char})" if bound and first[0] else "")
            first[0] = False
            out.append(f"(?:{atom})?" if piece.optional else atom)
        elif isinstance(piece, Group):
            # Each alternative starts where the group starts.
            at_start = first[0]
            bodies = []
            for alt in piece.alternatives:
                first[0] = at_start
                bodies.append(_pieces(alt, mode, first, bound))
            first[0] = False
            out.append(f"(?:{'|'.join(bodies)})" + ("?" if piece.optional else ""))
        elif isinstance(piece, Suffix):
            out.append(f"[a-z0-9]{{0,{WORD_MAX}}}" if mode in ("exact", "tolerant") else "")
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


def _starts_plain(pieces: tuple[Piece, ...]) -> bool:
    """True when every way through the pieces starts with a non-optional letter."""
    head = pieces[0] if pieces else None
    if isinstance(head, Letter):
        return not head.optional
    if isinstance(head, Group):
        return not head.optional and all(_starts_plain(alt) for alt in head.alternatives)
    return False


def _word(word: Word, mode: str, at_start: bool = False) -> str:
    return _render_word(word.source, mode, at_start)


@cache
def _render_word(source: str, mode: str, at_start: bool) -> str:
    word = _parse_word(source)
    effective = mode if mode != "tolerant" or _is_long(word) else "exact"
    if at_start and not _starts_plain(word.pieces):
        return "(?<![a-z0-9])" + _pieces(word.pieces, effective, [True])
    return _pieces(word.pieces, effective, [True], bound=at_start)


def _seq(seq: tuple[Item, ...], mode: str, at_start: bool = True) -> str:
    """Render a word sequence in exact or tolerant mode; at_start: it starts the match
    (False: no look-behind at its start, for the padded view where a space is written)."""
    out: list[str] = []
    for index, item in enumerate(seq):
        lead = WORD_GAP if index else ""
        first = at_start and index == 0
        if isinstance(item, Word):
            out.append(lead + _word(item, mode, first))
        elif isinstance(item, Choice):
            body = "|".join(_seq(alt, mode, first) for alt in item.alternatives)
            out.append(f"(?:{lead}(?:{body}))" + ("?" if item.optional else ""))
        else:
            out.append(f"(?:{WORD_GAP}[a-z0-9]{{1,{WORD_MAX}}}){{0,{item.count}}}")
    return "".join(out)


def _spellings(pieces: tuple[Piece, ...]) -> list[tuple[str, bool]]:
    """Every way the pieces can be written in the word view, each with True when it ends
    in the ``*`` suffix (more letters may follow). ``~`` gaps are 0-3 spaces."""
    found: list[tuple[str, bool]] = [("", False)]
    for piece in pieces:
        options: list[tuple[str, bool]]
        if isinstance(piece, Letter):
            options = [(canonical(piece.char), False)]
        elif isinstance(piece, Group):
            options = [option for alt in piece.alternatives for option in _spellings(alt)]
        elif isinstance(piece, Suffix):
            options = [("", True)]
        else:
            options = [(" " * n, False) for n in range(4)]
        if isinstance(piece, Letter | Group) and piece.optional:
            options.append(("", False))
        found = [(text + more, ended or suffix) for text, ended in found for more, suffix in options]
    return list(dict.fromkeys(found))


@cache
def word_literals(source: str) -> Literals:
    """The literal strings one word can be in the padded word view: each spelling between
    spaces, or, for a word ending in ``*``, its spellings after a space (any letters may
    follow). One of them occurs wherever the word matches. Words with more than
    LITERALS_MAX spellings keep only the spellings of their longest plain prefix
    (a superset)."""
    word = _parse_word(source)
    pieces = word.pieces
    spellings = _spellings(pieces)
    while len(spellings) > LITERALS_MAX and len(pieces) > 1:
        # Cut the word before its last piece, which then counts as "more letters follow".
        pieces = pieces[:-1]
        spellings = [(text, True) for text, _ in _spellings(pieces)]
    return frozenset(" " + text + ("" if suffix else " ") for text, suffix in spellings)


def _anchor_word(word: Word, stripped: bool) -> str:
    """One word as a plain regex for the word view with its spaces removed (unbounded,
    without gaps); not stripped: between spaces in the padded word view."""
    if stripped:
        return _pieces(word.pieces, "stripped", [True])
    body = " " + _pieces(word.pieces, "anchor", [True])
    return body if isinstance(word.pieces[-1], Suffix) else body + " "


def is_frequent(literals: Literals) -> bool:
    """True when one spelling of a word is one of the FREQUENT words."""
    return not literals.isdisjoint(FREQUENT)


def _anchor(seq: tuple[Item, ...]) -> tuple[Literals, float]:
    """The literals of the most selective required item of seq, one of which occurs in
    every match, with a selectivity score (longer words and fewer alternatives are better)."""
    items = _items(seq)
    if not items:  # unreachable: every sequence begins with a word or a choice
        raise PatternSyntaxError("a sequence without a required word")
    return max(items, key=lambda item: item[1])


def _requirement(seq: tuple[Item, ...]) -> tuple[Requirement, ...]:
    """What seq needs: each required word, and for each required choice its alternatives."""
    found: list[Requirement] = []
    for item in seq:
        if isinstance(item, Word):
            found.append(word_literals(item.source))
        elif isinstance(item, Choice) and not item.optional:
            found.append(tuple(_requirement(alt) for alt in item.alternatives))
    return tuple(found)


def _heads(item: Item) -> Literals:
    """How a match of an item begins: a space, then its first word."""
    if isinstance(item, Word):
        return word_literals(item.source)
    if isinstance(item, Choice):
        return frozenset().union(*(_heads(alt[0]) for alt in item.alternatives))
    return frozenset()


def _items(seq: tuple[Item, ...]) -> list[tuple[Literals, float]]:
    """Each required item of seq as the literals one of which it contains, with a score."""
    found: list[tuple[Literals, float]] = []
    for item in seq:
        if isinstance(item, Word):
            literals = word_literals(item.source)
            found.append((literals, float(min_letters(item.pieces)) - (100 if is_frequent(literals) else 0)))
        elif isinstance(item, Choice) and not item.optional:
            subs = [_anchor(alt) for alt in item.alternatives]
            words = frozenset().union(*(sub[0] for sub in subs))
            found.append((words, min(sub[1] for sub in subs) - math.log2(len(words))))
    return found


def _keyword(seq: tuple[Item, ...]) -> list[str]:
    """The long words that make up the whole of an alternative on their own (keywords
    such as "surveillance"): the words whose letters may be split by separators."""
    if len(seq) != 1:
        return []
    item = seq[0]
    if isinstance(item, Word):
        return [_anchor_word(item, stripped=True)] if _is_long(item) else []
    if isinstance(item, Choice) and not item.optional:
        return [w for alt in item.alternatives for w in _keyword(alt)]
    return []


def _tolerant(alts: tuple[tuple[Item, ...], ...]) -> str:
    """The regex of the keyword alternatives, letters of long words split-tolerant."""
    bodies: list[str] = []
    for seq in alts:
        if len(seq) == 1 and isinstance(seq[0], Choice) and not seq[0].optional:
            inner = _tolerant(seq[0].alternatives)
            if inner:
                bodies.append(inner)
        elif _keyword(seq):
            bodies.append(_seq(seq, "tolerant"))
    return "|".join(bodies)


def compile_expr(expr: str) -> Compiled:
    """Compile one expression of the pattern language; raises PatternSyntaxError."""
    alts = parse(expr)
    keywords = tuple(dict.fromkeys(w for seq in alts for w in _keyword(seq)))
    return Compiled(
        alternatives=alts,
        requires=tuple(_requirement(seq) for seq in alts),
        anchors=frozenset().union(*(_anchor(seq)[0] for seq in alts)),
        heads=frozenset().union(*(_heads(seq[0]) for seq in alts)),
        keywords="|".join(f"(?:{w})" for w in keywords),
    )
