"""The deterministic local stand-in for Layer B, used when no Anthropic API key is configured.

It is a keyword heuristic, not a judgement: good enough to exercise every path locally (approve,
flag, reject) and labelled in the decision trail (``classifier="offline"``,
``model="offline-heuristic-v1"``, ``stand_in: true``) so nobody mistakes it for an LLM verdict.
Same input, same output, in every process: no randomness, no reliance on set order.
"""

from __future__ import annotations

import re
import time
from typing import cast

from chalicelib.domain.layer_b import (
    DOMAINS,
    ZERO_USAGE,
    Assessment,
    ClassifierInput,
    ClassifierResult,
    Domain,
)

MODEL = "offline-heuristic-v1"
FALLBACK_DOMAIN = "community_building"


def _stems(spec: str) -> tuple[str, ...]:
    return tuple(spec.split("|"))


# Word stems, matched at the start of a word, "|"-separated.
DOMAIN_KEYWORDS: dict[str, tuple[str, ...]] = {
    "poverty_reduction": _stems(
        "poverty|poor|income|livelihood|microfinanc|unemploy|wage|homeless|low-income|cash transfer|housing"
    ),
    "education_access": _stems(
        "educat|school|student|teach|literacy|learn|classroom|tutor|curriculum|scholarship"
    ),
    "healthcare_improvement": _stems(
        "health|clinic|hospital|patient|medic|disease|vaccin|diagnos|nurse|maternal"
    ),
    "environmental_protection": _stems(
        "environment|pollut|recycl|waste|climate|emission|plastic|air quality|deforest|carbon"
    ),
    "food_security": _stems("food|hunger|nutrition|crop|farm|harvest|meal|agricultur|famine|food bank"),
    "mental_health_wellbeing": _stems(
        "mental|wellbeing|well-being|anxiety|depress|stress|loneliness|counsel|therap|suicide prevention"
    ),
    "community_building": _stems(
        "community|neighbo|volunteer|civic|local group|mutual aid|cooperative|gathering|inclusion"
    ),
    "disaster_response": _stems(
        "disaster|earthquake|flood|hurricane|wildfire|evacuat|emergency|relief|early warning|shelter"
    ),
    "digital_inclusion": _stems(
        "digital|internet|connectivity|broadband|smartphone|computer|online access|device|offline-first"
    ),
    "human_rights": _stems(
        "human rights|rights|justice|legal aid|refugee|freedom|asylum|detention|due process|advocacy"
    ),
    "clean_water_sanitation": _stems(
        "water|sanitation|hygiene|toilet|sewage|borehole|drinking|purif|latrine|handwash"
    ),
    "sustainable_energy": _stems(
        "solar|wind|renewable|energy|electric|battery|grid|efficien|off-grid|clean cooking"
    ),
    "gender_equality": _stems(
        "gender|women|girl|equal pay|femin|maternity|gender-based|female|empower|discrimination against women"
    ),
    "biodiversity_conservation": _stems(
        "biodiversity|species|wildlife|habitat|conservation|pollinator|coral|rewild|endangered|ecosystem"
    ),
    "elder_care": _stems(
        "elder|older people|older adult|senior|aging|ageing|dementia|retire|caregiver|nursing home"
    ),
}

# Stems that suggest one of the forbidden categories (weapons, surveillance, scams, ...).
HARM_KEYWORDS: tuple[str, ...] = _stems(
    "weapon|explosive|bomb|firearm|ammunition|surveil|spy on|track people|facial recognition|doxx|"
    "scrape personal|deepfake|phishing|scam|ponzi|pyramid scheme|pump and dump|insider trading|"
    "manipulate voters|disinformation|propaganda|child labour|child labor|forced labour|sweatshop|"
    "miracle cure|cures cancer|anti-vax|inferior race|exterminate|hate|launder"
)

# Words that make a proposal concrete.
FEASIBILITY_KEYWORDS: tuple[str, ...] = _stems(
    "pilot|plan|step|budget|cost|partner|timeline|measure|metric|month|week|volunteer|train|deploy|"
    "prototype|survey|evidence|data"
)

_WORD = re.compile(r"[\w'-]+")


def _hits(text: str, stems: tuple[str, ...]) -> list[str]:
    """The stems found in ``text`` at word starts, sorted, each once."""
    found = [stem for stem in stems if re.search(r"(?<![\w-])" + re.escape(stem), text)]
    return sorted(set(found))


def _clamp(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


class OfflineClassifier:
    """Keyword heuristic standing in for the LLM: deterministic, free, and clearly labelled."""

    offline = True
    model = MODEL

    def classify(self, item: ClassifierInput) -> ClassifierResult:
        """Score ``item`` by keyword overlap; always returns an assessment."""
        started = time.monotonic()
        assessment = assess(item)
        return ClassifierResult(
            assessment=assessment,
            classifier="offline",
            model=MODEL,
            usage=ZERO_USAGE,
            cost_usd_micros=0,
            attempts=1,
            latency_ms=round((time.monotonic() - started) * 1000),
            error=None,
        )


def assess(item: ClassifierInput) -> Assessment:
    """The heuristic itself, a pure function of the input."""
    text = f"{item.title}\n{item.body}".lower()
    words = _WORD.findall(text)

    matches = {domain: _hits(text, DOMAIN_KEYWORDS[domain]) for domain in DOMAINS}
    declared = item.domain if item.domain in DOMAINS else None
    # Most distinct hits wins; ties go to the declared domain, then to the order of DOMAINS.
    best = max(DOMAINS, key=lambda d: (len(matches[d]), d == declared, -DOMAINS.index(d)))
    if not matches[best]:
        best = declared or FALLBACK_DOMAIN
    domain_hits = matches[best]

    harm = _hits(text, HARM_KEYWORDS)
    harm_risk = _clamp(0.05 + 0.3 * len(harm))

    alignment = 0.25 + 0.15 * min(len(domain_hits), 4)
    if declared == best and domain_hits:
        alignment += 0.1
    alignment -= 0.25 * len(harm)

    feasibility_hits = _hits(text, FEASIBILITY_KEYWORDS)
    feasibility = 0.3 + 0.08 * min(len(feasibility_hits), 7)

    letters = [c for c in text if c.isalpha()]
    shouting = sum(1 for c in f"{item.title}\n{item.body}" if c.isupper()) / max(1, len(letters))
    distinct_ratio = len(set(words)) / max(1, len(words))
    quality = 0.2 + min(len(words), 300) / 300 * 0.45
    quality += 0.1 if "\n" in item.body.strip() else 0.0  # paragraphs or lists
    quality += 0.1 if 3 <= len(item.title.split()) <= 20 else 0.0
    quality -= 0.3 if shouting > 0.5 else 0.0
    quality -= 0.3 if len(words) >= 20 and distinct_ratio < 0.3 else 0.0  # repetition

    reasoning = (
        f"Offline keyword heuristic, not an LLM judgement. Domain {best}: "
        f"{len(domain_hits)} keyword(s) matched ({', '.join(domain_hits) or 'none'}). "
        f"Harm keyword(s): {', '.join(harm) or 'none'}. "
        f"{len(words)} words, {len(feasibility_hits)} feasibility cue(s)."
    )
    return Assessment(
        aligned_domain=cast(Domain, best),
        alignment_score=_clamp(alignment),
        harm_risk=harm_risk,
        feasibility=_clamp(feasibility),
        quality=_clamp(quality),
        reasoning=reasoning[:2000],
    )
