"""Exact money and quantity arithmetic: Decimal only, never floats, never NaN, never negative sizes."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

MoneyLike = Decimal | int | str

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
FEE_QUANTUM = Decimal("0.00001")


class MoneyError(ValueError):
    """A money or size value that must never enter the books (NaN, infinite, float, negative size)."""


def to_decimal(value: MoneyLike, *, name: str = "value") -> Decimal:
    """Parse an exact decimal; floats are refused because they cannot represent cents exactly."""
    if isinstance(value, bool | float):
        raise MoneyError(f"{name}: {type(value).__name__} {value!r} is not exact; pass a str, int or Decimal")
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise MoneyError(f"{name}: {value!r} is not a decimal number") from exc
    if not result.is_finite():
        raise MoneyError(f"{name}: {value!r} is not a finite number")
    return result


def size(value: MoneyLike, *, name: str = "size") -> Decimal:
    """A share count or notional: finite and not negative."""
    result = to_decimal(value, name=name)
    if result < 0:
        raise MoneyError(f"{name}: {result} is negative")
    return result


def probability_price(value: MoneyLike, *, name: str = "price") -> Decimal:
    """A binary-outcome token price, strictly between 0 and 1."""
    result = to_decimal(value, name=name)
    if not ZERO < result < ONE:
        raise MoneyError(f"{name}: {result} is outside (0, 1)")
    return result


def floor_to(value: Decimal, quantum: Decimal) -> Decimal:
    """Round toward zero onto a grid, as the venue does for fees."""
    return value.quantize(quantum, rounding=ROUND_DOWN)


E18 = Decimal(10) ** 18


def from_e18(value: str | int) -> Decimal:
    """Chainlink's `full_accuracy_value`: an integer scaled by 1e18, exact as a Decimal."""
    try:
        scaled = int(value)
    except (TypeError, ValueError) as exc:
        raise MoneyError(f"{value!r} is not an integer string scaled by 1e18") from exc
    return Decimal(scaled) / E18
