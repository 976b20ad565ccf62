"""What a model call costs: list prices per model and the exact cost of a call's token counts, in
integer micro-dollars (the unit of the Layer B budget). Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from chalicelib.domain.layer_b import Usage


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
