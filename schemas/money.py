"""Exact money: costs are ``Decimal`` US dollars with at most 12 decimal places.

CLIs report costs as JSON floats (``0.0856259``); the float's shortest repr is the value
the CLI meant, so it is read through ``repr`` and never summed as a float.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

USD_PLACES = 12
_QUANTUM = Decimal(1).scaleb(-USD_PLACES)
ZERO_USD = Decimal(0).quantize(_QUANTUM)


class MoneyError(ValueError):
    """A value that cannot be an amount of money (negative, not finite, not a number)."""


def to_usd(value: object) -> Decimal:
    """An exact, non-negative dollar amount from a JSON number, a string or a Decimal."""
    if type(value) is Decimal and value.is_finite() and value >= 0:
        # The common case (every sum and part of a cost): no conversion, only the rounding.
        try:
            return value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
        except InvalidOperation as exc:
            raise MoneyError(f"amount too large: {value!r}") from exc
    if isinstance(value, bool):
        raise MoneyError(f"a boolean is not a cost: {value!r}")
    try:
        if isinstance(value, float):
            amount = Decimal(repr(value))
        elif isinstance(value, int | str | Decimal):
            amount = Decimal(value)
        else:
            raise MoneyError(f"not a number: {type(value).__name__}")
    except InvalidOperation as exc:
        raise MoneyError(f"not a number: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    if amount < 0:
        raise MoneyError(f"a cost cannot be negative: {value!r}")
    try:
        return amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    except InvalidOperation as exc:
        # More digits than the context holds at 12 places: no real cost is that large.
        raise MoneyError(f"amount too large: {value!r}") from exc


def is_exact_usd(amount: object) -> bool:
    """True when ``amount`` is a ``Decimal`` that ``to_usd`` returns unchanged (finite,
    non-negative, at most 12 places); False otherwise, where ``to_usd`` would change it,
    raise, or convert another type. The records' checks ask this first: their common case,
    through ``to_usd``'s own fast path for Decimals."""
    if type(amount) is not Decimal:
        return False
    try:
        return to_usd(amount) == amount
    except MoneyError:
        return False


def usd_str(amount: Decimal) -> str:
    """Canonical text of an amount (fixed point, 12 places) for JSON."""
    return format(amount.quantize(_QUANTUM), "f")


def split_by_weight(amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` in integer shares proportional to ``weights``, summing to ``amount``.

    Each share is rounded down; what rounding left over goes to the largest weight (the
    first of equal ones), which also takes everything when every weight is 0.
    """
    if not weights:
        return []
    total = sum(weights)
    shares = [amount * weight // total if total else 0 for weight in weights]
    largest = max(range(len(weights)), key=lambda i: (weights[i], -i))
    shares[largest] += amount - sum(shares)
    return shares
