"""Numbers that are personal data: SSNs, payment cards and phone numbers, found in the ORIGINAL text.

Ordinary numbers must survive masking, so the rules are about what a number is, not how many
digits it has:
- a span that is a date, a time, an IP address, an ISBN, a version, a decimal (coordinates,
  measures), a price or a grouped thousands figure is protected: nothing inside it is PII;
- SSNs are three groups 3-2-4 with one separator and the SSA's never-issued ranges excluded;
- cards are 12-19 digits in one grouping, pass Luhn and fall in an issuer's range with one of its
  lengths;
- phones come from Google's libphonenumber (`phonenumbers`), whose matcher finds numbers in free
  text region by region (national formats) and international ones from any region; a bare run of
  digits with no separator, no `+`/`00`/trunk `0` and no phone word before it is a plain integer.

`phonenumbers` (several MB of metadata) is imported on the first text that contains a long enough
run of digits, never at import time.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

# National formats are tried for these regions; international numbers (+ or 00) match from any.
PHONE_REGIONS: tuple[str, ...] = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "BR", "MX", "IN", "CN", "JP", "KR", "RU", "TR", "AU",
)
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15


@dataclass(frozen=True)
class Found:
    """One PII span of the original text (end exclusive)."""

    kind: str  # "ssn", "credit_card" or "phone"
    start: int
    end: int


# --- protected spans: never PII ------------------------------------------------------------------

_D = r"[0-9]"
_PROTECTED: tuple[re.Pattern[str], ...] = (
    # ISO dates and date-times: 2000-04-16, 2000-04-16 11:34:35, 2024-01-15T10:30:00.123+02:00
    re.compile(r"(?<![\d])\d{4}([-/.])\d{1,2}\1\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
               r"(?:Z|[+-]\d{2}:?\d{2})?)?(?![\d])", re.ASCII),
    # day-first / month-first dates with one separator (16/04/2000, 04.16.2000, 16-04-00), optional time
    re.compile(r"(?<![\d.,/-])\d{1,2}([-/.])\d{1,2}\1(?:\d{4}|\d{2})(?:,? \d{1,2}:\d{2}(?::\d{2})?)?"
               r"(?![-./]?\d)", re.ASCII),
    # times: 11:34, 11:34:35, 10:30:00.5
    re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?![\d:])", re.ASCII),
    # year ranges and short numeric ranges: 1998-2004, 2019-24
    re.compile(r"(?<![\d-])(?<!\d )(?:1[89]|20)\d\d ?[-–] ?(?:(?:1[89]|20)\d\d|\d\d)(?![\d-])", re.ASCII),
    # decimals (coordinates, measures, amounts): 51.507351, -0.127758, 3.00, 12,5
    re.compile(r"(?<![\d.,])-?\d+[.,]\d+(?![.,]?\d)", re.ASCII),
    # grouped thousands: 1,000,000 / 1.234.567 (groups of exactly three)
    re.compile(r"(?<![\d.,])\d{1,3}(?:([,.])\d{3})(?:\1\d{3})+(?:[.,]\d+)?(?![\d])|(?<![\d.,])\d{1,3},\d{3}(?![\d,])",
               re.ASCII),
    # prices: a currency sign or code next to the amount
    re.compile(r"(?:[$€£¥₹₽₩₺]|\b(?:USD|EUR|GBP|CHF|JPY|INR|BRL|MXN|PLN|SEK|RUB|AUD|CAD)\b) ?-?\d(?:[,. ]?\d)*"
               r"|(?<![\d,. ])\d(?:[,. ]?\d)* ?"
               r"(?:[€£¥₹₽₩₺]|\b(?:USD|EUR|GBP|CHF|JPY|INR|BRL|MXN|PLN|SEK|RUB|AUD|CAD|kr|zł)\b)"),
    # versions: v1.2.3, 10.0.19045.2965 (three or more dot groups without leading zeros, a short first one)
    re.compile(r"(?<![\w.+])v?(?:0|[1-9]\d?)(?:\.(?:0|[1-9]\d{0,5})){2,}(?![\w.]|\.\d)", re.ASCII),
    # references that start with a year: case 2018-83877, INV 2024/00042
    re.compile(r"(?<![\d+\-/])(?<!\d )(?:19|20)\d\d[-/]\d{3,6}(?![\d]|[-/]\d)", re.ASCII),
    # coordinates written with degrees: 40.7128° N, 51°30′26″
    re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)?\s?°(?:\s?\d+(?:[.,]\d+)?\s?[′'])?(?:\s?\d+(?:[.,]\d+)?\s?[″\"])?"),
)
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                   r"(?::\d{1,5})?(?![\d]|\.\d)", re.ASCII)
_IPV6_CANDIDATE = re.compile(r"(?<![\w:])\[?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?\]?(?![\w:])",
                             re.ASCII)
_ISBN = re.compile(r"(?<![\w-])\d(?:[- ]?\d){8,11}[- ]?[\dX](?![\w-])", re.ASCII)
_ISBN_LABEL = re.compile(r"ISBN(?:-1[03])?:?\s*$", re.IGNORECASE)


def _isbn_valid(digits: str) -> bool:
    if len(digits) == 13 and digits.isdigit() and digits[:3] in ("978", "979"):
        return sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(digits)) % 10 == 0
    if len(digits) == 10 and digits[:9].isdigit() and (digits[9].isdigit() or digits[9] == "X"):
        total = sum((10 - i) * int(c) for i, c in enumerate(digits[:9]))
        total += 10 if digits[9] == "X" else int(digits[9])
        return total % 11 == 0
    return False


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of text that are dates, times, IPs, ISBNs, decimals, prices, versions or ranges."""
    spans: list[tuple[int, int]] = []
    for pattern in _PROTECTED:
        spans.extend(m.span() for m in pattern.finditer(text))
    spans.extend(m.span() for m in _IPV4.finditer(text))
    for match in _IPV6_CANDIDATE.finditer(text):
        candidate = match.group().strip("[]").split("%", 1)[0]
        if candidate.count(":") >= 2:
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            spans.append(match.span())
    for match in _ISBN.finditer(text):
        raw = match.group()
        digits = raw.replace("-", "").replace(" ", "")
        labelled = bool(_ISBN_LABEL.search(text, max(0, match.start() - 12), match.start()))
        # 13-digit ISBNs are self-evident (978/979 and their check digit); a 10-digit one needs hyphens or a label.
        if _isbn_valid(digits) and (len(digits) == 13 or labelled or raw.count("-") == 3):
            spans.append(match.span())
    return spans


# --- SSN ------------------------------------------------------------------------------------------

# not part of a longer run of groups (a phone number "+353 41 5354 5725")
_SSN = re.compile(r"(?<![\w+-])(?<![\d+] )(\d{3})([- ])(\d{2})\2(\d{4})(?![\w]|[-.,/ ]\d)", re.ASCII)
_SSN_LABELLED = re.compile(r"(?:\bSSN|social security(?: number| no\.?)?)\s*(?:#|no\.?|number)?\s*[:=]?\s*(\d{9})\b",
                           re.IGNORECASE | re.ASCII)


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def find_ssns(text: str) -> Iterator[Found]:
    for match in _SSN.finditer(text):
        if _ssn_valid(match.group(1), match.group(3), match.group(4)):
            yield Found("ssn", match.start(), match.end())
    for match in _SSN_LABELLED.finditer(text):
        digits = match.group(1)
        if _ssn_valid(digits[:3], digits[3:5], digits[5:]):
            yield Found("ssn", match.start(1), match.end(1))


# --- payment cards --------------------------------------------------------------------------------

# (first digits range low, high, allowed lengths): Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay, Maestro, Mir, RuPay, Troy, Verve.
_ISSUERS: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({13, 16, 19})),
    ("51", "55", frozenset({16})),
    ("2221", "2720", frozenset({16})),
    ("34", "34", frozenset({15})),
    ("37", "37", frozenset({15})),
    ("6011", "6011", frozenset(range(16, 20))),
    ("644", "649", frozenset(range(16, 20))),
    ("65", "65", frozenset(range(16, 20))),
    ("3528", "3589", frozenset(range(16, 20))),
    ("2131", "2131", frozenset({15})),
    ("1800", "1800", frozenset({15})),
    ("300", "305", frozenset(range(14, 20))),
    ("36", "36", frozenset(range(14, 20))),
    ("38", "39", frozenset(range(14, 20))),
    ("62", "62", frozenset(range(16, 20))),
    ("50", "50", frozenset(range(12, 20))),
    ("56", "69", frozenset(range(12, 20))),
    ("0604", "0604", frozenset(range(12, 20))),
    ("2200", "2204", frozenset(range(16, 20))),
    ("60", "60", frozenset(range(16, 20))),
    ("81", "82", frozenset({16})),
    ("9792", "9792", frozenset({16})),
    ("506", "507", frozenset(range(16, 20))),
)
# One digit per step: a long run of digits cannot make the regex try every way of splitting it.
_CARD = re.compile(r"(?<![\w.,+-])\d(?:[ -]?\d){11,18}(?![\w]|[.,-]\d)", re.ASCII)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of payment card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# Maestro's ranges are broad (50, 56-69) and its lengths 12-19: a bare run of digits that only
# Maestro explains is as likely an ID or a count, so it needs a card word before it.
_BROAD = (("50", "50"), ("56", "69"), ("0604", "0604"))
_CARD_WORD = re.compile(
    r"\b(?:card|cards|cc|credit|debit|visa|mastercard|maestro|amex|discover|jcb|unionpay|diners|paid|pay|payment|"
    r"charge|karte|kreditkarte|carte|tarjeta|cartão|carta|kaart|karta)\b[^.!?\n]{0,30}$",
    re.IGNORECASE,
)


_CARD_AFTER = re.compile(r"[\s,;:]{1,3}(?:cvv|cvc|cvv2|exp|expiry|expires|valid thru|valid until)\b", re.IGNORECASE)


def card_issuer_fit(digits: str) -> str | None:
    """"narrow" when a specific issuer's range and length fit, "broad" when only Maestro's do."""
    if not (12 <= len(digits) <= 19 and digits.isdigit() and luhn_ok(digits)):
        return None
    fit = None
    for low, high, lengths in _ISSUERS:
        head = digits[: len(low)]
        if low <= head <= high and len(digits) in lengths:
            if (low, high) not in _BROAD:
                return "narrow"
            fit = "broad"
    return fit


def is_card_number(digits: str) -> bool:
    """12-19 digits, Luhn-valid, in an issuer's range with one of its lengths."""
    return card_issuer_fit(digits) is not None


def find_cards(text: str) -> Iterator[Found]:
    for match in _CARD.finditer(text):
        raw = match.group()
        digits = raw.replace(" ", "").replace("-", "")
        fit = card_issuer_fit(digits)
        if fit is None:
            continue
        if fit == "broad" and raw.isdigit() and not (
                _CARD_WORD.search(text, max(0, match.start() - 40), match.start())
                or _CARD_AFTER.match(text, match.end())):
            continue
        yield Found("credit_card", match.start(), match.end())


# --- phones ---------------------------------------------------------------------------------------

_DIGIT_RUN = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6,24}")
_SEPARATOR = re.compile(r"\d[\s().\-/]+\d")
_PHONE_WORD = re.compile(
    r"(?:\b(?:tel|tél|phone|telephone|téléphone|telefon|teléfono|telefono|telefone|mobile|mobil|móvil|cell|"
    r"call|calls|ring|text|sms|whatsapp|fax|dial|contact|number|no|nr|num|hotline|helpline|ph|mob|tlf|"
    r"ruf|rufen|anrufen|kontakt|reach|signal|viber|wechat|line|appel|appelez|llama|llame|ligue|chiama|"
    r"hotline|helpline|infoline)\b\.?|☎|📞|📱|电话|手机|微信)[\s:.#(-]{0,4}(?:\w+\s){0,3}$",
    re.IGNORECASE,
)
_BEFORE_BAD = set("/=#&_@\\-.,") | set("0123456789")
_AFTER_BAD = set("/@_\\") | set("0123456789")


@cache
def _phonenumbers() -> Any:
    import phonenumbers  # lazy: several MB of metadata, only for texts with long digit runs

    return phonenumbers


_SSN_SHAPE = re.compile(r"\d{3}([- ])\d{2}\1\d{4}", re.ASCII)


_SPACED_DASH = re.compile(r"\s+[-–—]\s+")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The number without what the matcher took around it: an opening parenthesis that is not
    closed inside, and whatever follows a spaced dash ("718-622-0221 - 24")."""
    raw = text[start:end]
    cut = _SPACED_DASH.search(raw)
    if cut is not None and sum(c.isdigit() for c in raw[: cut.start()]) >= MIN_PHONE_DIGITS:
        end = start + cut.start()
        raw = raw[: cut.start()]
    if raw.startswith("(") and raw.count("(") > raw.count(")"):
        start += 1
    return start, end


def _plain_integer(raw: str) -> bool:
    return raw.isdigit() and not raw.startswith("0")


class Spans:
    """Disjoint sorted intervals (overlapping ones merged): overlap tests in O(log n)."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def _around(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        index = bisect.bisect_right(self.starts, start) - 1
        for i in range(max(index, 0), len(self.starts)):
            if self.starts[i] >= end:
                break
            yield self.starts[i], self.ends[i]

    def overlaps(self, start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in self._around(start, end))

    def covers(self, start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in self._around(start, end))

    def reaches_outside(self, start: int, end: int) -> bool:
        """Some span overlaps [start, end) and is not wholly inside it."""
        return any(s < end and start < e and not (start <= s and e <= end) for s, e in self._around(start, end))


# libphonenumber is called at most this many times per text (a run costs one call per region tried,
# 0.05-0.3 ms each); further runs in a pathological text (thousands of numbers) are judged by their
# shape alone, with the same filters.
MAX_MATCHER_CALLS = 48
_SHAPE_PREFIX = re.compile(r"(?:\+ ?|00 ?)?\(?$")


def _matcher_spans(text: str, run: re.Match[str], budget: int) -> tuple[dict[tuple[int, int], str], int]:
    """Candidates the matcher reads around the run, and how many calls it took (at most `budget`)."""
    phonenumbers = _phonenumbers()
    calls = 0
    spans: dict[tuple[int, int], str] = {}
    # The matcher reads a window around the run: its prefix (+, 00, parenthesis) and extension.
    offset = max(0, run.start() - 6)
    window = text[offset: run.end() + 16]
    # What follows a spaced dash is not part of the number ("+7 (101) 853-7867 - 24 hours").
    for dash in _SPACED_DASH.finditer(window):
        if sum(c.isdigit() for c in window[: dash.start()]) >= MIN_PHONE_DIGITS:
            window = window[: dash.start()]
            break
    for region in PHONE_REGIONS[:budget]:
        calls += 1
        covered = False
        for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.POSSIBLE,
                                                    max_tries=20):
            spans[(offset + match.start, offset + match.end)] = match.raw_string
            covered = covered or (offset + match.start <= run.start() and run.end() <= offset + match.end)
        if covered:
            break  # read whole by this region; other regions would find the same span
    return spans, calls


# Phone-shaped pieces of a run, for runs the matcher is not asked about: one token of digits with
# dashes, dots or parentheses, or an international number in spaced groups.
_SHAPE = re.compile(r"\+\d{1,3}(?: \(?\d{1,5}\)?){1,5}(?!\d)|\(?\d[\d().\-]{5,18}\d(?![\d(])")


def _shape_spans(text: str, run: re.Match[str]) -> Iterator[tuple[int, int]]:
    start = run.start()
    prefix = _SHAPE_PREFIX.search(text, max(0, start - 4), start)
    if prefix is not None:
        start = prefix.start()
    for piece in _SHAPE.finditer(text, start, run.end()):
        yield piece.span()


def find_phones(text: str, blocked: Spans) -> Iterator[Found]:
    """Phone numbers outside the blocked spans (other PII and protected spans)."""
    spans: dict[tuple[int, int], str] = {}
    budget = MAX_MATCHER_CALLS
    for run in _DIGIT_RUN.finditer(text):
        if blocked.covers(run.start(), run.end()):
            continue  # wholly a date, an IP, a card...: nothing to ask
        if run.end() - run.start() > MAX_PHONE_DIGITS and run.group().isdigit():
            continue  # one unbroken run of more digits than any phone number has
        if budget > 0:
            found, calls = _matcher_spans(text, run, budget)
            spans.update(found)
            budget -= calls
        else:
            for start, end in _shape_spans(text, run):
                spans[(start, end)] = text[start:end]
    # Of overlapping candidates (one number read differently by several regions) keep the longest.
    chosen: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda s: (s[0], s[0] - s[1])):
        if chosen and start < chosen[-1][1]:
            if end - start > chosen[-1][1] - chosen[-1][0]:
                chosen[-1] = (start, end)
            continue
        chosen.append((start, end))
    for found_start, found_end in chosen:
        start, end = _trim(text, found_start, found_end)
        raw = text[start:end]
        if blocked.overlaps(start, end):
            continue
        digits = sum(c.isdigit() for c in raw.split("x")[0].split("ext")[0])
        if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
            continue
        before = text[start - 1] if start > 0 else " "
        after = text[end] if end < len(text) else " "
        if before in _BEFORE_BAD or before.isalpha() or after in _AFTER_BAD or after.isalpha():
            continue
        if _SSN_SHAPE.fullmatch(raw):
            continue  # shaped like an SSN but not a valid one: neither
        if not raw.isascii():
            continue  # keycaps, other scripts' digits: not written as a dialable number here
        if _plain_integer(raw) and not _PHONE_WORD.search(text, max(0, start - 40), start):
            continue
        yield Found("phone", start, end)


# --- all numbers ----------------------------------------------------------------------------------


_DIGITS = b"0123456789"


def enough_digits(plain: bytes) -> bool:
    """A cheap necessary condition (a few microseconds on 10 KB): at least seven digits anywhere in
    the folded view, which has every digit of the original as an ASCII digit."""
    return len(plain) - len(plain.translate(None, _DIGITS)) >= MIN_PHONE_DIGITS


def has_long_digit_run(text: str) -> bool:
    """Whether text could hold a number-shaped PII at all (seven digits close together)."""
    return _DIGIT_RUN.search(text) is not None


def find_numbers(text: str, taken: list[tuple[int, int]] | None = None) -> list[Found]:
    """SSNs, cards and phones of the original text, not overlapping each other, `taken` (e.g. e-mail
    addresses) or any protected span; sorted by position. Work is bounded: linear scans, and at most
    MAX_MATCHER_RUNS digit runs handed to libphonenumber."""
    if not has_long_digit_run(text):
        return []
    protected = Spans(protected_spans(text))
    outside = Spans(list(taken or []))
    found: list[Found] = []
    # SSNs before cards; of overlapping candidates the earlier one wins.
    candidates = sorted([*find_ssns(text), *find_cards(text)], key=lambda f: (f.start, f.kind != "ssn"))
    last_end = -1
    for item in candidates:
        if item.start < last_end or outside.overlaps(item.start, item.end):
            continue
        # A protected span wholly inside the number (e.g. "1234-5678") does not save a card; one that
        # reaches outside it (the number is part of a date or a decimal) does.
        if protected.reaches_outside(item.start, item.end):
            continue
        found.append(item)
        last_end = item.end
    blocked = Spans([*zip(protected.starts, protected.ends, strict=True), *zip(outside.starts, outside.ends,
                                                                              strict=True),
                     *((f.start, f.end) for f in found)])
    found.extend(find_phones(text, blocked))
    return sorted(found, key=lambda f: (f.start, f.end))
