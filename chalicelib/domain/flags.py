"""Feature flags: a typed schema with ranges, validated on every write and every read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.routing import SPOT_CHECK_PCT

FlagType = Literal["bool", "int", "float"]
FlagValue = bool | int | float

CACHE_TTL_S = 2.0  # how stale a process's flag values may be: a rollback reaches every routing decision within it


@dataclass(frozen=True)
class FlagSpec:
    name: str
    type: FlagType
    default: FlagValue
    description: str
    minimum: float | None = None
    maximum: float | None = None

    def validate(self, value: object) -> FlagValue:
        """Return the value coerced to the flag's type, or raise ValidationFailed."""
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValidationFailed(f"{self.name} takes true or false", details={"flag": self.name})
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationFailed(f"{self.name} takes a number", details={"flag": self.name})
        if self.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValidationFailed(f"{self.name} takes a whole number", details={"flag": self.name})
            value = int(value)
        else:
            try:
                value = float(value)
            except OverflowError:  # an integer too large for a float is out of any range
                raise ValidationFailed(f"{self.name} is out of range", details={"flag": self.name}) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationFailed(f"{self.name} takes a finite number", details={"flag": self.name})
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise ValidationFailed(
                f"{self.name} must be between {self.minimum} and {self.maximum}",
                details={"flag": self.name, "minimum": self.minimum, "maximum": self.maximum},
            )
        return value

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "description": self.description,
        }


FLAGS: dict[str, FlagSpec] = {
    spec.name: spec
    for spec in (
        FlagSpec("PEER_VALIDATION_ENABLED", "bool", False, "Peers evaluate submissions (shadow mode at 0 %)."),
        FlagSpec("PEER_VALIDATION_TRAFFIC_PCT", "int", 0, "Share of eligible traffic decided by peers.", 0, 100),
        FlagSpec("SUBMISSION_COSTS_ENABLED", "bool", False, "Charge credits for submissions."),
        FlagSpec("SUBMISSION_COST_MULTIPLIER", "float", 1.0, "Multiplier on submission costs.", 0, 5),
        FlagSpec("VALIDATION_REWARDS_ENABLED", "bool", False, "Pay validators for timely evaluations."),
        FlagSpec("VALIDATION_REWARD_MULTIPLIER", "float", 1.0, "Multiplier on validation rewards.", 0, 5),
        FlagSpec("SPOT_CHECK_PCT", "int", SPOT_CHECK_PCT, "Share of peer decisions re-checked by Layer B.", 0, 100),
        FlagSpec("PRIVACY_BLUR_ENABLED", "bool", True, "Blur faces and plates in evidence photos."),
        FlagSpec("LAYER_B_DAILY_BUDGET_CENTS", "int", 1333, "Daily Layer B spend limit in US cents.", 0, 10_000_000),
    )
}


def spec_for(name: str) -> FlagSpec:
    try:
        return FLAGS[name]
    except KeyError:
        raise ValidationFailed(f"unknown flag {name}", details={"flag": name}) from None


def resolve(stored: dict[str, object]) -> dict[str, FlagValue]:
    """Effective values: stored values that still validate, defaults otherwise.

    A bad stored value never breaks a read (defect 7 of the earlier system): it falls back to the default.
    """
    values: dict[str, FlagValue] = {}
    for name, spec in FLAGS.items():
        raw = stored.get(name, spec.default)
        try:
            values[name] = spec.validate(raw)
        except ValidationFailed:
            values[name] = spec.default
    return values
