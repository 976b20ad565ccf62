"""Fold a text into the ASCII views that patterns are matched against.

The plain view is lowercase ASCII bytes. Every original character becomes zero, one or
more plain-view characters:

- ASCII: letters lowercased, ``_`` becomes ``-`` (a separator), control characters other
  than tab and newlines are dropped;
- separators are never dropped, so that they cannot glue words together: invisible ones
  (format characters such as zero-width spaces and joiners, the soft hyphen, tag
  characters; variation selectors, the combining grapheme joiner, Hangul fillers; thin,
  hair and narrow spaces) become INVISIBLE (a word break that the glued view removes, so
  that they cannot split a word either), other spaces and separators a space;
- combining marks (accents, ``g̲u̲n̲``) are dropped;
- look-alike characters (Cyrillic, Greek, Armenian, Cherokee, small capitals, ...) are
  folded to the ASCII letter they imitate, from the Unicode confusables data;
- everything else goes through NFKC (fullwidth forms, ligatures, mathematical letters,
  circled letters), casefolding and accent stripping; remaining decimal digits become
  ASCII digits, remaining letters of other scripts are dropped and anything else
  (punctuation, symbols, spaces) becomes a space.

Pure ASCII text takes a fast path (one ``bytes.translate``); other text is folded word by
word, each word folded once and remembered (see fold_text). Positions in the plain view
are mapped back to the original text only when something matched.

The word view, which forbidden patterns and profanity are matched against, has the same
length as the plain view: leetspeak symbols followed by a letter or digit become the
letter they stand for ("$py", "k!ll"), other symbols and every other non-alphanumeric
character become a space, digits become the letters they stand for ("g0n", "b0mb";
only 2 and 6 stay digits) and "l" becomes "i" (both are written "1" and "|"). PII and
spam detectors read the plain view.
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Callable
from functools import cache
from pathlib import Path

from chalicelib.domain.layer_a.dsl import CANONICAL_FROM, CANONICAL_TO

_PATTERN_DIR = Path(__file__).resolve().parent.parent / "patterns"

_CONTROL = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
_ASCII_TABLE = bytes.maketrans(
    bytes(range(ord("A"), ord("Z") + 1)) + b"_",
    bytes(range(ord("a"), ord("z") + 1)) + b"-",
)
# What an invisible separator becomes in the plain view: a word break in the word view, and
# nothing in the glued view (see View.glued). Control characters never reach the plain view
# otherwise, so this byte only stands for such separators.
INVISIBLE = "\x1f"
# Characters that are not format characters (Cf) yet show nothing (the Unicode property
# Default_Ignorable_Code_Point, and spaces narrower than a space), by their names.
_IGNORABLE_NAMES = ("VARIATION SELECTOR", "GRAPHEME JOINER", "FILLER", "KHMER VOWEL INHERENT")
_NARROW_SPACE_NAMES = ("THIN", "HAIR", "NARROW", "SIX-PER-EM", "MEDIUM MATHEMATICAL")


def separator(ch: str) -> str | None:
    """What a non-ASCII separator becomes in the plain view: INVISIBLE, " ", or None when
    ch is no separator. Separators: every space, line and paragraph separator (Zs, Zl, Zp),
    format character (Cf), and character that shows nothing (variation selectors, the
    combining grapheme joiner, Hangul fillers, the braille blank ...)."""
    category = unicodedata.category(ch)
    if category == "Cf":
        return INVISIBLE
    if category in ("Zs", "Zl", "Zp"):
        name = unicodedata.name(ch, "")
        return INVISIBLE if any(part in name for part in _NARROW_SPACE_NAMES) else " "
    name = unicodedata.name(ch, "")
    if any(part in name for part in _IGNORABLE_NAMES):
        return INVISIBLE
    if name == "BRAILLE PATTERN BLANK":
        return " "
    return None
_TABLE_LIMIT = 65536

_LEET_SYMBOLS = b"@$!|+"
# Symbols read as letters: a run glued to a following letter or digit ("$py", "k!ll"), or
# a lone symbol inside spaced-out letters ("d e e p f @ k e").
# (Both alternatives start with the symbol so that ``re`` can skip to symbols quickly.)
# A run is tried once, from its first symbol, without backtracking (linear time).
_SYMBOL_RUN = re.compile(
    rb"[@$!|+](?<![@$!|+][@$!|+])(?:[@$!|+]*+(?=[a-z0-9])|(?<=[a-z0-9][ .\-_*/].)(?=[ .\-_*/][a-z0-9]))"
)
_CANON = dict(zip(CANONICAL_FROM, CANONICAL_TO, strict=True))
_SYMBOL_LETTERS = bytes.maketrans(_LEET_SYMBOLS, "".join(_CANON[chr(c)] for c in _LEET_SYMBOLS).encode())


def _word_byte(b: int) -> int:
    ch = chr(b)
    if b >= 128 or not (ch.islower() or ch.isdigit()):
        return ord(" ")  # separators, and symbols not followed by a letter or digit
    return ord(_CANON.get(ch, ch))


_WORD_TABLE = bytes(_word_byte(b) for b in range(256))


@cache
def _confusables() -> dict[str, str]:
    data = json.loads((_PATTERN_DIR / "confusables.json").read_text(encoding="utf-8"))
    mapping: dict[str, str] = data["map"]
    return mapping


def _fold_ascii(ch: str) -> str:
    code = ord(ch)
    if code in _CONTROL:
        return ""
    return chr(_ASCII_TABLE[code])


def fold_char(ch: str) -> str:
    """The view characters (ASCII, possibly empty) for one original character."""
    if ch.isascii():
        return _fold_ascii(ch)
    confusables = _confusables()
    boundary = separator(ch)
    if boundary is not None:
        return boundary
    direct = confusables.get(ch)
    if direct is not None:
        return direct
    category = unicodedata.category(ch)
    if category in ("Mn", "Me", "Mc"):
        return ""
    if category in ("Cs", "Co", "Cn", "Cc"):
        return " "
    out: list[str] = []
    for part in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", ch).casefold()):
        if part.isascii():
            out.append(_fold_ascii(part))
            continue
        mapped = confusables.get(part)
        if mapped is not None:
            out.append(mapped)
            continue
        boundary = separator(part)
        if boundary is not None:
            out.append(boundary)
            continue
        part_category = unicodedata.category(part)
        if part_category[0] == "M":
            continue
        if part_category == "Nd":
            out.append(str(unicodedata.digit(part)))
        elif part_category[0] not in "LN":
            out.append(" ")
    folded = "".join(out)
    if not folded and category[0] in "PS":
        return " "  # a symbol that is a letter of another script in NFKC ("⺟") still parts words
    return folded


# str.translate table, filled on demand with every code point met so far (a plain dict:
# ``str.translate`` reads it faster than a dict subclass with ``__missing__``). Every ASCII
# character has an entry, even those that stay as they are: a code point missing from the
# table costs ``str.translate`` a raised and caught LookupError.
_TABLE: dict[int, str] = {b: _fold_ascii(chr(b)) for b in range(128)}


# Blocks of scripts whose letters fold to nothing (no look-alikes of ASCII letters among
# them); runs of such letters are removed at C speed before the per-character table.
_DROPPED_BLOCKS = (
    (0x0590, 0x05FF), (0x0600, 0x06FF), (0x0750, 0x077F), (0x0900, 0x0DFF), (0x0E00, 0x0FFF),
    (0x1000, 0x109F), (0x1100, 0x11FF), (0x1200, 0x137F), (0x1780, 0x17FF), (0x3040, 0x30FF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
)  # fmt: skip


def _no_ascii_form(ch: str) -> bool:
    return not any(c.isascii() for c in unicodedata.normalize("NFKC", ch))


@cache
def _dropped() -> re.Pattern[str]:
    """A regex for runs of characters that fold to nothing, from the blocks above."""
    ranges: list[tuple[int, int]] = []
    confusables = _confusables()
    for low, high in _DROPPED_BLOCKS:
        for code in range(low, high + 1):
            ch = chr(code)
            # Letters and marks without a look-alike fold to nothing (tests check this
            # against fold_char for every character of these blocks).
            if (
                unicodedata.category(ch)[0] in "LM"
                and ch not in confusables
                and _no_ascii_form(ch)
                and separator(ch) is None
            ):
                if ranges and ranges[-1][1] == code - 1:
                    ranges[-1] = (ranges[-1][0], code)
                else:
                    ranges.append((code, code))
    body = "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges)
    return re.compile(f"[{body}]+")


# Folded words (runs of characters between ASCII spaces) met so far. Folding is character
# by character and a space folds to a space, so a text folds to its words folded and joined
# by spaces; for text in other scripts that is several times faster than folding every
# character again, since words recur.
_WORDS: dict[str, str] = {}
_WORDS_LIMIT = 50_000
_WORD_LIMIT = 40  # longer words are not remembered
_LEARN_PER_TEXT = 16  # words remembered from a text that is mostly new words


def fold_text(text: str) -> str:
    """The plain view of a text, as a str (ASCII only)."""
    words = text.split(" ")
    folded = list(map(_WORDS.get, words))
    missing = folded.count(None)
    mostly_new = missing * 4 > len(folded)
    index = -1
    for _ in range(min(missing, _LEARN_PER_TEXT) if mostly_new else missing):
        index = folded.index(None, index + 1)
        word = words[index]
        folded[index] = value = _fold_chars(word)
        _remember(word, value)
    if mostly_new:
        # Mostly new words (having remembered a few of them): fold the text in one pass.
        return _fold_chars(text)
    return " ".join(folded)  # type: ignore[arg-type]  # no None is left


def _remember(word: str, folded: str) -> None:
    if len(word) <= _WORD_LIMIT and len(_WORDS) < _WORDS_LIMIT:
        _WORDS[word] = folded


def _fold_chars(text: str) -> str:
    """Fold every character of a text (filling the table with characters met for the first time)."""
    folded = _dropped().sub("", text).translate(_TABLE)
    if folded.isascii():
        return folded
    # Characters met for the first time are the only ones left outside ASCII.
    for ch in {c for c in folded if not c.isascii()}:
        if len(_TABLE) < _TABLE_LIMIT:
            _TABLE[ord(ch)] = fold_char(ch)
    folded = _dropped().sub("", text).translate(_TABLE)
    if not folded.isascii():  # the table is full: fold the rest one by one
        folded = "".join(fold_char(c) if not c.isascii() else c for c in folded)
    return folded


def fold_table_get(ch: str) -> str:
    """The view characters for one original character (as fold_text folds it)."""
    folded = _TABLE.get(ord(ch))
    if folded is not None:
        return folded
    return ch if ch.isascii() else fold_char(ch)


def word_view(plain: bytes) -> bytes:
    """The word view of a plain view (same length, see the module docstring)."""
    if any(symbol in plain for symbol in (b"@", b"$", b"!", b"|", b"+")):
        plain = _SYMBOL_RUN.sub(lambda m: m.group().translate(_SYMBOL_LETTERS), plain)
    return plain.translate(_WORD_TABLE)


class View:
    """The normalised views of one text, with the way back to original positions."""

    __slots__ = ("_offsets", "ascii", "plain", "raw", "text", "words")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        if self.ascii:
            self.raw: bytes | None = text.encode("ascii")
            self.plain = self.raw.translate(_ASCII_TABLE, _CONTROL)
        else:
            self.raw = None
            self.plain = fold_text(text).encode("ascii")
        self.words = word_view(self.plain)
        self._offsets: list[int] | None = None

    @property
    def split_words(self) -> bytes | None:
        """The word view with every symbol a separator, when it differs from the word view: the
        word view reads a leetspeak symbol between letters as a letter ("k!ll"), this one as a
        word break ("spy+on+her")."""
        if not any(symbol in self.plain for symbol in (b"@", b"$", b"!", b"|", b"+")):
            return None
        split = self.plain.translate(_WORD_TABLE)
        return split if split != self.words else None

    def glued(self) -> tuple[bytes, list[int]] | None:
        """The word view without its invisible separators ("g<ZWSP>un" reads "gun"), with the
        word-view position of each of its positions; None when there is none to remove."""
        if self.ascii or _INVISIBLE_BYTE not in self.plain:
            return None
        pieces: list[bytes] = []
        positions: list[int] = []
        for run in _VISIBLE_RUN.finditer(self.plain):
            pieces.append(self.words[run.start() : run.end()])
            positions.extend(range(run.start(), run.end()))
        return b"".join(pieces), positions

    @property
    def identity(self) -> bool:
        """True when view positions equal original positions."""
        return self.ascii and len(self.plain) == len(self.text)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty span of the view back to the span of the original text."""
        if self.identity:
            return start, end
        offsets = self._offsets
        if offsets is None:
            offsets = self._offsets = _build_offsets(self.text, _fold_ascii if self.ascii else fold_table_get)
        return offsets[start], offsets[end - 1] + 1


_INVISIBLE_BYTE = INVISIBLE.encode()
_VISIBLE_RUN = re.compile(rb"[^\x1f]+")


def _build_offsets(text: str, fold: Callable[[str], str]) -> list[int]:
    offsets: list[int] = []
    for index, ch in enumerate(text):
        width = len(fold(ch))
        if width == 1:
            offsets.append(index)
        elif width:
            offsets.extend([index] * width)
    return offsets


# Three or more single characters separated by short runs of separators, in the word
# view: "g u n", "s-u-r-v-e-i-l-l-a-n-c-e", "g.u.n".
SPACED_RUN = re.compile(rb"(?<![a-z0-9])[a-z0-9](?: {1,3}[a-z0-9]){2,}(?![a-z0-9])")
# The same for Hyperscan, on the word view padded with a space at each end.
SPACED_RUN_PREFILTER = rb" [a-z0-9](?: {1,3}[a-z0-9]){2,} "


def collapse_spaced_runs(words: bytes, plain: bytes) -> list[tuple[bytes, list[int]]]:
    """Join runs of single spaced-out characters of a word view ("g u n" reads "gun").

    Within a run, the separator used most often (in the plain view) joins letters and any
    other separator stays a word break ("w e   s p y" reads "we spy"; "w.e s.p.y" too).
    Returns the collapsed views, each with, for each of its positions, the position in the
    given view: one view, and a second one when a run starts with "a" or "i", which may be
    a word of its own ("buy a g u n"). Empty when there is no such run.
    """
    runs = list(SPACED_RUN.finditer(words))
    if not runs:
        return []
    views = [_collapse(words, plain, runs, keep_article=False)]
    if any(words[run.start()] in b"ai" for run in runs):
        views.append(_collapse(words, plain, runs, keep_article=True))
    return views


def _collapse(
    words: bytes, plain: bytes, runs: list[re.Match[bytes]], keep_article: bool
) -> tuple[bytes, list[int]]:
    pieces: list[bytes] = []
    positions: list[int] = []
    last = 0
    for run in runs:
        letters = [i for i in range(run.start(), run.end()) if words[i] != 0x20]
        gaps = [plain[a + 1 : b] for a, b in itertools.pairwise(letters)]
        joiner = min(set(gaps), key=lambda g: (-gaps.count(g), len(g), g))
        pieces.append(words[last : letters[0]])
        positions.extend(range(last, letters[0]))
        for index, letter in enumerate(letters):
            if index and (gaps[index - 1] != joiner or (keep_article and index == 1 and words[letters[0]] in b"ai")):
                pieces.append(b" ")  # a word break: any position inside the gap will do
                positions.append(letter - 1)
            pieces.append(words[letter : letter + 1])
            positions.append(letter)
        last = run.end()
    pieces.append(words[last:])
    positions.extend(range(last, len(words)))
    return b"".join(pieces), positions


def strip_spaces(words: bytes) -> bytes:
    """The word view without separators, for finding words split by separators."""
    return words.translate(None, b" ")
