"""Non-blocking signals: PII (masked), spam heuristics.

Profanity comes from the pattern file and is matched with the forbidden patterns.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable

from chalicelib.domain.layer_a.model import Signal, pii_placeholder
from chalicelib.domain.layer_a.normalise import View

MAX_SIGNALS_PER_SUBTYPE = 20

# --- PII ---------------------------------------------------------------------------------

PII_SEVERITY = {"email": "medium", "phone": "medium", "ssn": "high", "credit_card": "high"}

_NON_DIGIT = re.compile(rb"\D")
_SSN = re.compile(rb"(\d{3})([- ])(\d{2})\2(\d{4})")
_CARD_SHAPE = re.compile(rb"\d[\d -]*\d")
_DATE = re.compile(rb"\d{1,4}[-./ ]\d{1,2}[-./ ]\d{1,4}")
_YEAR_RANGE = re.compile(rb"(?:1[89]|20)\d\d ?- ?(?:1[89]|20)?\d\d")
_LOCAL_PHONE = re.compile(rb"\d{3}[-. ]\d{4}")


def luhn_valid(digits: bytes) -> bool:
    """The Luhn checksum used by payment card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = char - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def classify_number(candidate: bytes) -> str | None:
    """Which kind of PII a run of digits and separators is, if any."""
    digits = _NON_DIGIT.sub(b"", candidate)
    count = len(digits)
    ssn = _SSN.fullmatch(candidate)
    if ssn:
        area, group, serial = ssn.group(1), ssn.group(3), ssn.group(4)
        if area not in (b"000", b"666") and area[:1] != b"9" and group != b"00" and serial != b"0000":
            return "ssn"
        return None
    if 13 <= count <= 19 and _CARD_SHAPE.fullmatch(candidate) and digits[:1] in b"23456" and luhn_valid(digits):
        return "credit_card"
    if not 7 <= count <= 15:
        return None
    if _DATE.fullmatch(candidate) or _YEAR_RANGE.fullmatch(candidate):
        return None
    international = candidate.startswith((b"+", b"("))
    if international or count >= 10 or _LOCAL_PHONE.fullmatch(candidate):
        return "phone"
    return None


def find_pii(view: View, emails: Iterable[re.Match[bytes]], numbers: Iterable[re.Match[bytes]]) -> list[Signal]:
    """PII signals from the confirmed email and number candidates, in original positions."""
    found: list[Signal] = []
    for match in emails:
        start, end = view.original_span(match.start(), match.end())
        found.append(Signal("pii", "email", PII_SEVERITY["email"], start, end))
    for match in numbers:
        kind = classify_number(match.group())
        if kind is not None:
            start, end = view.original_span(match.start(), match.end())
            found.append(Signal("pii", kind, PII_SEVERITY[kind], start, end))
    return found


def mask(text: str, pii: list[Signal]) -> str:
    """Replace every PII span of text with its placeholder."""
    pieces: list[str] = []
    last = 0
    for signal in sorted(pii, key=lambda s: (s.start or 0, s.end or 0)):
        if signal.start is None or signal.end is None or signal.start < last:
            continue
        pieces.append(text[last : signal.start])
        pieces.append(pii_placeholder(signal.subtype))
        last = signal.end
    pieces.append(text[last:])
    return "".join(pieces)


# --- spam --------------------------------------------------------------------------------

REPEAT_RUN = 4  # the same token this many times in a row
DIVERSITY_MIN_TOKENS = 40
DIVERSITY_MAX_RATIO = 0.2
# Repetition is judged on the first 1 KB: spam repeats throughout, and the cost stays bounded.
REPETITION_WINDOW = 1024


def repetition_signals(words: bytes) -> list[Signal]:
    """The same token over and over, in a row or across the text (its first 1 KB)."""
    tokens = words[:REPETITION_WINDOW].split()
    found: list[Signal] = []
    # One byte per neighbouring pair: 1 where a token repeats the one before it.
    repeats = bytes(map(operator.eq, tokens, tokens[1:]))
    if b"\x01" * (REPEAT_RUN - 1) in repeats:
        severity = "high" if b"\x01" * (3 * REPEAT_RUN - 1) in repeats else "medium"
        found.append(Signal("spam", "repeated_tokens", severity, None, None))
    if len(tokens) >= DIVERSITY_MIN_TOKENS and len(set(tokens)) / len(tokens) <= DIVERSITY_MAX_RATIO:
        found.append(Signal("spam", "low_diversity", "low", None, None))
    return found


def link_signal(link_count: int) -> Signal | None:
    """Link stuffing: many URLs in one submission."""
    if link_count >= 10:
        return Signal("spam", "link_stuffing", "high", None, None)
    if link_count >= 5:
        return Signal("spam", "link_stuffing", "medium", None, None)
    if link_count >= 3:
        return Signal("spam", "link_stuffing", "low", None, None)
    return None


def run_signals(view: View, subtype: str, matches: Iterable[re.Match[bytes]]) -> list[Signal]:
    """One signal per punctuation run or character flood, in original positions."""
    found: list[Signal] = []
    for match in matches:
        if len(found) >= MAX_SIGNALS_PER_SUBTYPE:
            break
        start, end = view.original_span(match.start(), match.end())
        found.append(Signal("spam", subtype, "medium" if match.end() - match.start() >= 8 else "low", start, end))
    return found
