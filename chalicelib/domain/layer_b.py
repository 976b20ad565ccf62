"""Layer B: the LLM classifier's vocabulary, its decision rule, the thresholds in force, the daily
budget and the result cache's key.

Pure: no I/O. The adapters (``adapters/anthropic/classifier.py``, ``adapters/offline_classifier.py``)
produce a :class:`ClassifierResult`; :func:`decide` turns its assessment into a verdict by trust tier;
``domain/pricing.py`` prices a call from its real token counts in integer micro-dollars;
``services/layer_b_service.py`` runs the calls, the cache and the budget around these rules.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
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


# --- Thresholds in force ----------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdsInForce:
    """The thresholds a decision used and where they came from (for the decision trail)."""

    thresholds: Thresholds
    overridden: tuple[str, ...]  # domains whose overrides applied, empty for the defaults

    def to_dict(self) -> dict[str, Any]:
        return {**threshold_values(self.thresholds), "overrides": list(self.overridden)}


def domains_to_consult(declared_domain: object, assessment: Assessment | None) -> list[str]:
    """The known domains whose overrides may apply: the declared one and the one Layer B found."""
    return sorted({d for d in (declared_domain, assessment and assessment.aligned_domain)
                   if isinstance(d, str) and d in DOMAINS})


def effective_thresholds(domains: Sequence[str], overrides: Mapping[str, Thresholds]) -> ThresholdsInForce:
    """The stricter of the overrides of ``domains`` where both exist, the defaults where neither does.

    A domain without an override contributes the defaults, so declaring a domain with looser
    thresholds gains an agent nothing.
    """
    found = [overrides[d] for d in domains if d in overrides]
    if not found:
        return ThresholdsInForce(DEFAULT_THRESHOLDS, ())
    candidates = found if len(found) == len(domains) else [*found, DEFAULT_THRESHOLDS]
    effective = candidates[0]
    for other in candidates[1:]:
        effective = stricter(effective, other)
    return ThresholdsInForce(effective, tuple(d for d in domains if d in overrides))


def thresholds_from(row: Mapping[str, Any]) -> Thresholds:
    """The thresholds of a stored override row (one column per name)."""
    return Thresholds(**{name: float(row[name]) for name in THRESHOLD_NAMES})


def threshold_values(thresholds: Thresholds) -> dict[str, float]:
    return {name: float(getattr(thresholds, name)) for name in THRESHOLD_NAMES}


def check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValidationFailed(f"unknown domain {domain}", details=[{"field": "domain", "message": "unknown domain"}])


# --- Budget -----------------------------------------------------------------------------------

MICROS_PER_CENT = 10_000
BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(frozen=True)
class BudgetStatus:
    """Today's Layer B spend (UTC day) against the ``LAYER_B_DAILY_BUDGET_CENTS`` flag."""

    day: date
    budget_cents: int
    spent_usd_micros: int
    calls: int

    @property
    def budget_usd_micros(self) -> int:
        return self.budget_cents * MICROS_PER_CENT

    @property
    def exhausted(self) -> bool:
        """No call may be made: the spend reached the budget (a budget of 0 allows none)."""
        return self.spent_usd_micros >= self.budget_usd_micros

    @property
    def alert_due(self) -> bool:
        """Spend reached 80 % of a non-zero budget (integers compared exactly)."""
        return self.budget_cents > 0 and self.spent_usd_micros * 5 >= self.budget_usd_micros * 4

    def to_dict(self) -> dict[str, Any]:
        budget = self.budget_usd_micros
        return {
            "day": self.day.isoformat(),
            "budget_cents": self.budget_cents,
            "budget_usd_micros": budget,
            "spent_usd_micros": self.spent_usd_micros,
            "spent_share": round(self.spent_usd_micros / budget, 4) if budget else None,
            "calls": self.calls,
            "exhausted": self.exhausted,
        }


SPEND_SHARDS = 16  # rows of one day's spend (migration 021): callers add to one, readers sum them


def spend_shard(call_id: int) -> int:
    """The shard of the day's spend a recorded call adds its cost to: consecutive calls take
    consecutive shards, so concurrent callers rarely share a row."""
    return call_id % SPEND_SHARDS


def budget_day(now: datetime) -> date:
    """The budget's day: the UTC date of ``now``."""
    return now.astimezone(UTC).date()


# --- Calls: purposes, the cache key, who answered ---------------------------------------------

CACHE_TTL = timedelta(hours=1)
PURPOSE_GUARDRAIL = "guardrail"
PURPOSE_SPOT_CHECK = "spot_check"
_PURPOSE = re.compile(r"^[a-z][a-z_]{0,39}$")
_WHITESPACE = re.compile(r"\s+")


def check_purpose(purpose: str) -> None:
    if not _PURPOSE.match(purpose):
        raise ValueError(f"purpose must match {_PURPOSE.pattern}, got {purpose!r}")


def cache_key(item: ClassifierInput) -> str:
    """SHA-256 of the content the classifier sees, normalised (Unicode NFKC, runs of whitespace
    collapsed, ends trimmed): trivially reformatted resubmissions hit the cache. Case is kept, as
    shouting is part of what the classifier judges; the declared domain is part of the key."""

    def norm(text: str) -> str:
        return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()

    canonical = json.dumps([item.kind, norm(item.title), norm(item.body), item.domain], ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def classifier_identity(classifier: Classifier) -> tuple[ClassifierName, str]:
    """Which classifier and model answer: the offline stand-in labels itself (``offline = True``)."""
    if getattr(classifier, "offline", False) is True:
        return "offline", str(getattr(classifier, "model", "unknown"))
    model = getattr(classifier, "model", None)
    return "anthropic", model if isinstance(model, str) and model else "unknown"
