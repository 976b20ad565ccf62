"""Layer B: the LLM classifier's vocabulary, its decision rule, and what each call costs.

Pure: no I/O. The adapters (``adapters/anthropic_classifier.py``, ``adapters/offline_classifier.py``)
produce a :class:`ClassifierResult`; :func:`decide` turns its assessment into a verdict by trust tier;
:func:`cost_usd_micros` prices a call from its real token counts in integer micro-dollars.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Annotated, Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.domain.consensus import Verdict
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.layer_a.model import CATEGORIES

Domain = Literal[
    "poverty_reduction",
    "education_access",
    "healthcare_improvement",
    "environmental_protection",
    "food_security",
    "mental_health_wellbeing",
    "community_building",
    "disaster_response",
    "digital_inclusion",
    "human_rights",
    "clean_water_sanitation",
    "sustainable_energy",
    "gender_equality",
    "biodiversity_conservation",
    "elder_care",
]
Trust = Literal["new", "verified"]
ClassifierName = Literal["anthropic", "offline"]
# What the decision trail says when the offline stand-in decided.
OFFLINE_NOTE = ("decided by the offline classifier (naive Bayes on a labelled set, not an LLM): "
                "set ANTHROPIC_API_KEY to have Claude decide")

DOMAINS: tuple[str, ...] = get_args(Domain)
# The forbidden categories are Layer A's catalogue: Layer B is asked about exactly the same twelve.
FORBIDDEN_CATEGORIES: tuple[str, ...] = CATEGORIES

Score = Annotated[float, Field(ge=0.0, le=1.0, strict=True, allow_inf_nan=False)]
Reasoning = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Assessment(BaseModel):
    """What the classifier says about one submission. Also the forced tool's input schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aligned_domain: Domain = Field(description="The one domain the submission serves best.")
    alignment_score: Score = Field(
        description="0..1: how clearly and directly the submission serves that domain's social good."
    )
    harm_risk: Score = Field(
        description="0..1: risk that publishing it causes harm, including any forbidden category."
    )
    feasibility: Score = Field(description="0..1: how realistic and actionable it is.")
    quality: Score = Field(description="0..1: clarity, specificity and effort of the writing.")
    reasoning: Reasoning = Field(
        description="Two to five sentences justifying the scores. Do not quote the submission at length."
    )


@dataclass(frozen=True)
class ClassifierInput:
    """The content to classify. Every field is untrusted text written by an agent."""

    kind: str
    title: str
    body: str
    domain: str | None


@dataclass(frozen=True)
class Usage:
    """Token counts as the API reported them (zero for the offline classifier)."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


ZERO_USAGE = Usage(0, 0, 0, 0)


@dataclass(frozen=True)
class ClassifierResult:
    """One classification, successful or not, as the decision trail records it.

    Exactly one of ``assessment`` and ``error`` is set: a failed call carries no assessment and
    the caller sends the submission to human review.
    """

    assessment: Assessment | None
    classifier: ClassifierName
    model: str
    usage: Usage
    cost_usd_micros: int
    attempts: int
    latency_ms: int
    error: str | None
    # True when the assessment was reused from the result cache: no call was made, nothing was spent.
    cached: bool = False

    def __post_init__(self) -> None:
        if (self.assessment is None) == (self.error is None):
            raise ValueError("a result carries either an assessment or an error, never both or neither")
        if self.classifier not in get_args(ClassifierName):
            raise ValueError(f"unknown classifier {self.classifier!r}")
        if self.cost_usd_micros < 0 or self.attempts < 0 or self.latency_ms < 0:
            raise ValueError("cost, attempts and latency must be non-negative")

    @property
    def stand_in(self) -> bool:
        """True when no LLM was consulted (the offline heuristic decided)."""
        return self.classifier == "offline"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for the decision trail; :meth:`from_dict` reads it back."""
        return {
            "classifier": self.classifier,
            "stand_in": self.stand_in,
            "model": self.model,
            "assessment": None if self.assessment is None else self.assessment.model_dump(mode="json"),
            "usage": asdict(self.usage),
            "cost_usd_micros": self.cost_usd_micros,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "cached": self.cached,
            **({"note": OFFLINE_NOTE} if self.stand_in else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierResult:
        """Rebuild a result stored by :meth:`to_dict` (validates the assessment again)."""
        assessment = data.get("assessment")
        return cls(
            assessment=None if assessment is None else Assessment.model_validate(assessment),
            classifier=data["classifier"],
            model=data["model"],
            usage=Usage(**data["usage"]),
            cost_usd_micros=data["cost_usd_micros"],
            attempts=data["attempts"],
            latency_ms=data["latency_ms"],
            error=data.get("error"),
            cached=bool(data.get("cached", False)),
        )


class BatchUnavailable(RuntimeError):
    """The Message Batches API could not be reached or refused the request; try again later."""


class Classifier(Protocol):
    """Anything that classifies a submission: the Anthropic adapter or the offline stand-in."""

    def classify(self, item: ClassifierInput) -> ClassifierResult: ...


# --- Decision -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Score thresholds of :func:`decide`; operators may override them per domain or region.

    ``approve``/``flag`` split the alignment score; ``harm_warn``/``harm_block`` are the
    warn/block pair applied to the harm risk (0.6 / 0.8, the moderation thresholds we inherited).
    """

    approve: float = 0.70
    flag: float = 0.40
    harm_warn: float = 0.60
    harm_block: float = 0.80

    def __post_init__(self) -> None:
        values = (self.flag, self.approve, self.harm_warn, self.harm_block)
        if not all(isinstance(v, int | float) and math.isfinite(v) and 0 <= v <= 1 for v in values):
            raise ValueError("thresholds must be finite numbers within [0, 1]")
        if self.flag > self.approve:
            raise ValueError("flag threshold must not exceed the approve threshold")
        if self.harm_warn > self.harm_block:
            raise ValueError("harm_warn must not exceed harm_block")


DEFAULT_THRESHOLDS = Thresholds()
THRESHOLD_NAMES = ("approve", "flag", "harm_warn", "harm_block")


def stricter(a: Thresholds, b: Thresholds) -> Thresholds:
    """Thresholds at least as strict as both: higher approve and flag bars, lower harm bars."""
    return Thresholds(
        approve=max(a.approve, b.approve), flag=max(a.flag, b.flag),
        harm_warn=min(a.harm_warn, b.harm_warn), harm_block=min(a.harm_block, b.harm_block),
    )


def validate_thresholds(values: Mapping[str, float]) -> Thresholds:
    """Operator input: each in [0, 1], ``flag < approve`` and ``harm_warn < harm_block`` (strictly,
    so each band is non-empty). Raises ValidationFailed with the offending fields.

    Stricter than `Thresholds` itself on purpose: `decide` is defined for any ordered pair (an empty
    band only means that verdict never happens), but an operator may not set one."""
    problems = [
        {"field": name, "message": "must be a number between 0 and 1"}
        for name in THRESHOLD_NAMES
        if not isinstance(values.get(name), int | float) or isinstance(values.get(name), bool)
        or not 0 <= float(values[name]) <= 1
    ]
    if not problems:
        if not float(values["flag"]) < float(values["approve"]):
            problems.append({"field": "flag", "message": "flag must be below approve"})
        if not float(values["harm_warn"]) < float(values["harm_block"]):
            problems.append({"field": "harm_warn", "message": "harm_warn must be below harm_block"})
    if problems:
        raise ValidationFailed("thresholds are not valid", details=problems)
    return Thresholds(**{name: float(values[name]) for name in THRESHOLD_NAMES})

# Worst to best: a "better" verdict publishes with less human involvement.
VERDICT_RANK: dict[Verdict, int] = {"rejected": 0, "flagged": 1, "approved": 2}


def decide(
    assessment: Assessment | None, trust: Trust, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> Verdict:
    """The Layer B verdict for one assessment.

    In order: no assessment (the call failed, or the budget is spent) -> ``flagged`` for human
    review, never approved; harm risk >= ``harm_block`` -> ``rejected``; alignment score below
    ``flag`` -> ``rejected``; a new agent -> ``flagged``; harm risk >= ``harm_warn`` ->
    ``flagged``; score >= ``approve`` -> ``approved``; otherwise ``flagged``.

    Guarantees: monotone in the alignment score (higher never worsens the verdict), antitone in
    the harm risk (higher never improves it), and a new agent never fares better than a verified
    one. Boundaries are inclusive: 0.70 approves, 0.40 flags.
    """
    if assessment is None:
        return "flagged"
    if assessment.harm_risk >= thresholds.harm_block:
        return "rejected"
    if assessment.alignment_score < thresholds.flag:
        return "rejected"
    if trust != "verified":
        return "flagged"
    if assessment.harm_risk >= thresholds.harm_warn:
        return "flagged"
    if assessment.alignment_score >= thresholds.approve:
        return "approved"
    return "flagged"


# --- Cost -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens: base input, output, 5-minute cache write, cache read."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal


def _price(input_: str, output: str) -> ModelPrice:
    base = Decimal(input_)
    # Anthropic's multipliers: 5-minute cache writes cost 1.25x base input, cache reads 0.1x.
    return ModelPrice(
        input=base, output=Decimal(output), cache_write=base * Decimal("1.25"), cache_read=base / 10
    )


# Models that accept a forced tool call, with list prices (platform.claude.com pricing page).
# Left out on purpose: Sonnet 5.5 and Opus 5.5 reject a forced tool_choice; Haiku 5.5 is priced
# by prompt length (two bands), which this flat table does not model.
PRICES: dict[str, ModelPrice] = {
    "claude-haiku-4-5": _price("1", "5"),
    "claude-sonnet-4-5": _price("3", "15"),
    "claude-sonnet-4-6": _price("3", "15"),
    "claude-sonnet-5": _price("2", "10"),
    "claude-opus-4-5": _price("5", "25"),
    "claude-opus-4-6": _price("5", "25"),
    "claude-opus-4-7": _price("5", "25"),
    "claude-opus-4-8": _price("5", "25"),
    "claude-opus-5": _price("5", "25"),
}

BATCH_DISCOUNT = Decimal("0.5")  # the Message Batches API bills every token type at half price

_SNAPSHOT_SUFFIX = re.compile(r"-\d{8}$")


def price_for(model: str) -> ModelPrice:
    """The price of a model id or dated snapshot (``claude-haiku-4-5-20251001``); KeyError if unknown."""
    base = _SNAPSHOT_SUFFIX.sub("", model)
    if base not in PRICES:
        raise KeyError(f"no price for model {model!r}")
    return PRICES[base]


def cost_usd_micros(model: str, usage: Usage, *, batch: bool = False) -> int:
    """What a call cost in integer micro-dollars (1 USD = 1_000_000), rounded up.

    A price in USD per million tokens is exactly micro-dollars per token, so the sum is exact in
    decimal arithmetic; rounding up once at the end keeps budgets conservative.
    """
    price = price_for(model)
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    )
    if batch:
        total *= BATCH_DISCOUNT
    return int(total.to_integral_value(rounding=ROUND_CEILING))
