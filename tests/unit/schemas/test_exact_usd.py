"""``is_exact_usd`` says True only where ``to_usd(x) == x`` holds (the records' checks skip
``to_usd`` then), and for every plain Decimal where it holds."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from schemas.money import MoneyError, is_exact_usd, to_usd
from schemas.usage import CostSplit, SchemaError

SEED = 20261203


class _Sub(Decimal):
    pass


def _to_usd_keeps(value: object) -> bool:
    try:
        return bool(to_usd(value) == value)
    except MoneyError:
        return False


def _samples() -> list[object]:
    rng = random.Random(SEED)
    fixed: list[object] = [
        Decimal("0"), Decimal("-0"), Decimal("0E-12"), Decimal("0E-20"), Decimal("1.5"),
        Decimal("0.000000000001"), Decimal("0.0000000000001"), Decimal("0.0000000000010"),
        Decimal("-0.5"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"),
        Decimal("1E+30"), Decimal("9" * 16), Decimal("9" * 17), Decimal("1E+16"),
        Decimal("1.000000000000000000"),
        _Sub("0.5"), 0, 1, 0.5, "0.5", True, None,
    ]  # fmt: skip
    for _ in range(3000):
        digits = rng.randint(1, 30)
        exponent = rng.randint(-20, 6)
        sign = rng.choice(("", "", "-"))
        fixed.append(Decimal(f"{sign}{rng.randrange(10**digits)}E{exponent}"))
    return fixed


@pytest.mark.parametrize("value", _samples(), ids=lambda v: f"{type(v).__name__}:{v!s:.30}")
def test_true_only_where_to_usd_keeps_the_value_and_for_every_such_plain_decimal(value: object) -> None:
    exact = is_exact_usd(value)
    if exact:
        assert _to_usd_keeps(value), f"seed {SEED}"
    if type(value) is Decimal:
        assert exact == _to_usd_keeps(value), f"seed {SEED}"


def test_a_cost_split_checks_as_before() -> None:
    assert CostSplit(Decimal("0.25"), Decimal("0E-12")).input == Decimal("0.25")
    with pytest.raises(SchemaError, match="more than 12 decimal places"):
        CostSplit(output=Decimal("0.0000000000001"))
    with pytest.raises(SchemaError, match="cache_read_cost_usd: a cost cannot be negative"):
        CostSplit(cache_read=Decimal("-1"))
    with pytest.raises(SchemaError, match="input_cost_usd has more than 12"):
        CostSplit(input=0.5)  # type: ignore[arg-type]
