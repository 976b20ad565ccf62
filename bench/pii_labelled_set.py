"""Builds the labelled PII set: Faker values across locales in sentence templates, and hard negatives.

    .venv/bin/python bench/pii_labelled_set.py            # writes tests/fixtures/pii/labelled.jsonl

Each line: {"id", "text", "kind" (email|phone|ssn|credit_card, or null for a hard negative),
"family" (locale or negative family), "span": [start, end] of the PII value (positives)}.
Seeded: the same Faker version writes the same file. Phones are kept only when libphonenumber
calls them *possible* for the locale's region (Faker also emits digit strings no country dials), and
JCB cards only in JCB's range 3528-3589 (Faker draws from all of 35xx);
a third are rewritten in international format, as people write them across borders.
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "pii" / "labelled.jsonl"

PHONE_LOCALES = {
    "en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES", "it_IT": "IT", "nl_NL": "NL",
    "pl_PL": "PL", "sv_SE": "SE", "pt_BR": "BR", "es_MX": "MX", "en_IN": "IN", "zh_CN": "CN", "ja_JP": "JP",
    "ko_KR": "KR", "ru_RU": "RU", "tr_TR": "TR", "en_AU": "AU", "en_CA": "CA", "de_CH": "CH", "pt_PT": "PT",
    "da_DK": "DK", "fi_FI": "FI", "cs_CZ": "CZ", "en_NZ": "NZ", "en_IE": "IE", "el_GR": "GR", "uk_UA": "UA",
}
PHONE_TEMPLATES = [
    "Call me at {v} after 6pm.", "My number: {v}", "Reach the clinic on {v} (weekdays).",
    "{v} - ask for the coordinator", "Contact: {v}, thanks!", "Tel. {v}", "WhatsApp {v} for details",
    "Ring {v}. The fee is £3.00", "Bitte rufen Sie {v} an.", "Appelez le {v} svp", "Llame al {v} por favor",
    "volunteers can text {v} - 24 hours", "Hotline ({v}) open 9-17", "or phone {v}; we reply fast",
    "Questions? {v}", "{v}",
]
EMAIL_TEMPLATES = [
    "Write to {v} for the schedule.", "email: {v}", "Contact {v}.", "({v}) is the organiser",
    "Send photos to <{v}>", "Kontakt: {v}", "{v}",
]
SSN_TEMPLATES = [
    "SSN {v}", "my social security number is {v}", "{v} is his SSN", "ssn: {v}.", "SSN# {v} on file",
    "the form lists {v} as the SSN", "{v}",
]
CARD_TEMPLATES = [
    "card {v} exp 04/27", "Paid with {v}.", "Visa {v}", "number {v} cvv 123", "charge {v} today",
    "Card: {v}", "{v}",
]
CARD_TYPES = ["visa13", "visa16", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16", "maestro"]


def _group(digits: str, rng: random.Random) -> str:
    style = rng.choice(["plain", "space", "hyphen"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    if len(digits) in (14, 15):
        parts = [digits[:4], digits[4:10], digits[10:]]
    else:
        parts = [digits[i:i + 4] for i in range(0, len(digits), 4)]
    return sep.join(parts)


def _place(template: str, value: str) -> tuple[str, list[int]]:
    start = template.index("{v}")
    text = template.replace("{v}", value)
    return text, [start, start + len(value)]


def positives(rng: random.Random) -> list[dict[str, Any]]:
    import phonenumbers
    from faker import Faker

    rows: list[dict[str, Any]] = []
    for locale, region in PHONE_LOCALES.items():
        fake = Faker(locale)
        fake.seed_instance(rng.randrange(1 << 30))
        kept = 0
        tries = 0
        while kept < 12 and tries < 200:
            tries += 1
            value = fake.phone_number()
            try:
                parsed = phonenumbers.parse(value, region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_possible_number(parsed):
                continue
            form = rng.random()
            if form < 0.2:
                value = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            elif form < 0.3:
                value = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            text, span = _place(rng.choice(PHONE_TEMPLATES), value)
            rows.append({"text": text, "kind": "phone", "family": locale, "span": span})
            kept += 1
        for _ in range(4):
            text, span = _place(rng.choice(EMAIL_TEMPLATES), fake.email())
            rows.append({"text": text, "kind": "email", "family": locale, "span": span})
    us = Faker("en_US")
    us.seed_instance(rng.randrange(1 << 30))
    for _ in range(120):
        text, span = _place(rng.choice(SSN_TEMPLATES), us.ssn())
        rows.append({"text": text, "kind": "ssn", "family": "en_US", "span": span})
    for index in range(200):
        kind = CARD_TYPES[index % len(CARD_TYPES)]
        number = us.credit_card_number(kind)
        while kind == "jcb16" and not "3528" <= number[:4] <= "3589":
            number = us.credit_card_number(kind)  # Faker draws JCB from all of 35xx; JCB issues 3528-3589
        text, span = _place(rng.choice(CARD_TEMPLATES), _group(number, rng))
        rows.append({"text": text, "kind": "credit_card", "family": kind, "span": span})
    return rows


def negatives(rng: random.Random) -> list[dict[str, Any]]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(rng.randrange(1 << 30))
    families: dict[str, list[str]] = {name: [] for name in (
        "datetime", "date", "time", "ipv4", "ipv6", "isbn", "price", "integer", "version", "coordinates", "id",
        "measure", "other_scripts")}
    for _ in range(25):
        moment = fake.date_time_between(start_date="-30y", end_date="+2y")
        families["datetime"] += [
            f"Logged at {moment:%Y-%m-%d %H:%M:%S} by the sensor.", f"{moment:%Y-%m-%d %H:%M}",
            f"updated {moment.isoformat()}Z", f"Meeting on {moment:%d/%m/%Y %H:%M}.",
        ]
        families["date"] += [
            f"Opened on {moment:%d/%m/%Y}.", f"due {moment:%m/%d/%Y}", f"Am {moment:%d.%m.%Y} beginnt es",
            f"{moment:%d-%m-%Y}", f"{moment:%Y/%m/%d} report", f"from {moment:%Y-%m-%d} to {moment:%Y}-12-31",
            f"{moment:%d %B %Y}", f"{moment:%Y%m%d}",
        ]
        families["time"] += [f"open {moment:%H:%M}-{(moment.hour + 3) % 24:02d}:00", f"at {moment:%H:%M:%S} sharp"]
        families["ipv4"] += [f"server {fake.ipv4()} is down", f"{fake.ipv4_private()}:{rng.randrange(1, 65535)}",
                             f"allow {fake.ipv4_public()}/24"]
        families["ipv6"] += [f"host {fake.ipv6()} replied", f"[{fake.ipv6()}]:443",
                             f"gateway {uuid.UUID(int=rng.getrandbits(128)).hex[:4]}::1"]
        families["isbn"] += [f"ISBN {fake.isbn13()}", f"see ISBN-10 {fake.isbn10()}",
                             f"ISBN {fake.isbn13().replace('-', '')}", f"({fake.isbn13()})"]
        amount = rng.randrange(100, 10_000_000) / 100
        families["price"] += [f"It costs ${amount:,.2f}.", f"€{amount:,.2f}".replace(",", " "),
                              f"{amount:,.2f} €".replace(",", "X").replace(".", ",").replace("X", "."),
                              f"£{amount:.2f} per family", f"USD {int(amount)}", f"₹ {int(amount * 100):,}",
                              f"budget: {int(amount * 1000):,} EUR"]
        families["integer"] += [f"population {rng.randrange(10**6, 10**10)}", f"-{rng.randrange(10**7, 2**31)}",
                                f"{rng.randrange(10**7, 10**12)} downloads", f"count={rng.randrange(10**6, 10**9)}",
                                f"{rng.randrange(10**6, 10**9):,} trees", "-2147483648", "4294967295",
                                f"seed {rng.randrange(10**8, 10**12)}"]
        r = rng.randrange
        families["version"] += [f"v{rng.randrange(1, 20)}.{rng.randrange(0, 30)}.{rng.randrange(0, 300)}",
                                f"Windows 10.0.{rng.randrange(10000, 30000)}.{rng.randrange(1, 5000)}",
                                f"Python 3.{rng.randrange(6, 14)}.{rng.randrange(0, 20)}",
                                f"build {r(1, 9)}.{r(0, 99)}.{r(0, 9999)}.{r(0, 999)}"]
        lat, lng = float(fake.latitude()), float(fake.longitude())
        families["coordinates"] += [f"{lat:.6f}, {lng:.6f}", f"lat={lat:.5f}&lon={lng:.5f}",
                                    f"{abs(lat):.4f}° {'NS'[lat < 0]}, {abs(lng):.4f}° {'EW'[lng < 0]}",
                                    f"({lat:.7f} {lng:.7f})"]
        families["id"] += [str(uuid.UUID(int=rng.getrandbits(128))), fake.bothify("ORD-####-######"),
                           f"INV/{moment:%Y}/{rng.randrange(1, 99999):05d}", fake.bothify("1Z###??##########").upper(),
                           f"ticket #{rng.randrange(10000, 999999)}", f"{rng.getrandbits(160):040x}",
                           f"ISO 9001:{r(1990, 2025)}", f"case {moment:%Y}-{r(1, 99999):05d}"]
        families["measure"] += [f"{r(1000, 99999):,} km", f"{r(1, 999)}.{r(0, 99)} kg",
                                f"{r(10, 99)}.{r(0, 9)}%", f"pages {r(1, 300)}-{r(300, 900)}",
                                f"from {rng.randrange(1950, 2000)}-{rng.randrange(2000, 2030)}", "score 3-1",
                                f"{rng.randrange(100, 999)} 000 people"]
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(7, 12)))
        families["other_scripts"] += ["".join(d + "\ufe0f\u20e3" for d in digits),
                                      digits.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
                                      f"{moment:%Y/%m/%d}".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))]
    rows = []
    for family, texts in families.items():
        rows += [{"text": t, "kind": None, "family": family, "span": None} for t in texts]
    return rows


def build(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = positives(rng) + negatives(rng)
    return [{"id": i, **row} for i, row in enumerate(rows)]


def main() -> int:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows -> {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
