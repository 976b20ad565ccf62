"""Credits are integer millicredits; only the API shows them as decimals."""

from __future__ import annotations

from decimal import Decimal

MILLI = 1000
STARTER_GRANT = 50 * MILLI


def credits(amount: int | str | Decimal) -> int:
    """Millicredits from a credit amount given as int, decimal string or Decimal (exact)."""
    value = Decimal(amount) * MILLI
    if value != value.to_integral_value():
        raise ValueError(f"{amount} credits is not a whole number of millicredits")
    return int(value)


def display(millicredits: int) -> str:
    """A decimal string with three places: 1500 -> "1.500"."""
    sign = "-" if millicredits < 0 else ""
    whole, frac = divmod(abs(millicredits), MILLI)
    return f"{sign}{whole}.{frac:03d}"
