"""Non-blocking signals: PII (masked), spam heuristics.

Profanity comes from the pattern file and is matched with the forbidden patterns.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable

from chalicelib.domain.layer_a import pii
from chalicelib.domain.layer_a.model import Signal, pii_placeholder
from chalicelib.domain.layer_a.normalise import View

MAX_SIGNALS_PER_SUBTYPE = 20

# --- PII ---------------------------------------------------------------------------------

PII_SEVERITY = {"email": "medium", "phone": "medium", "ssn": "high", "credit_card": "high"}


def luhn_valid(digits: bytes) -> bool:
    """The Luhn checksum used by payment card numbers."""
    return pii.luhn_ok(digits.decode("ascii"))


def classify_number(candidate: bytes) -> str | None:
    """Which kind of PII a number written alone is, if any (the whole candidate must be the PII)."""
    text = candidate.decode("ascii", "replace")
    found = pii.find_numbers(text)
    if len(found) == 1 and (found[0].start, found[0].end) == (0, len(text)):
        return found[0].kind
    return None


def find_pii(view: View, emails: Iterable[re.Match[bytes]], numbers: Iterable[re.Match[bytes]]) -> list[Signal]:
    """PII signals, in original positions: the confirmed e-mail candidates, and the SSNs, cards and
    phone numbers of the original text (`numbers`, the number detector's candidates on the folded
    view, are not needed: the original text is read directly, so that a number's own characters,
    its extension and its neighbours decide)."""
    found: list[Signal] = []
    for match in emails:
        start, end = view.original_span(match.start(), match.end())
        found.append(Signal("pii", "email", PII_SEVERITY["email"], start, end))
    if pii.enough_digits(view.plain) and pii.has_long_digit_run(view.text):
        taken = [(s.start or 0, s.end or 0) for s in found]
        for item in pii.find_numbers(view.text, taken):
            found.append(Signal("pii", item.kind, PII_SEVERITY[item.kind], item.start, item.end))
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
