"""spendstream/table.py: ``jsonable_dumps`` writes the bytes ``to_jsonable`` + orjson write."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest

from spendstream.table import jsonable_dumps, to_jsonable


class Name(str):
    pass


_LEAVES: list[Any] = [
    None,
    True,
    0,
    -7,
    10**15,
    "text",
    'é\u2028"q"',
    Name("sub"),
    1.5,
    Decimal("0"),
    Decimal("0.000000000001"),
    Decimal("1E+3"),
    Decimal("-12.340000"),
    Decimal("7221.763984000000"),
    date(2026, 1, 6),
    datetime(2026, 1, 6, 10, 0, 0, tzinfo=UTC),
    datetime(2026, 1, 6, 10, 0, 0, 120000, tzinfo=UTC),
    datetime(2026, 1, 6, 10, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 1, 6, 10, 0, 0),
]


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice(_LEAVES)
    if roll < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if roll < 0.8:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randint(0, 4)))
    return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randint(0, 4))}


@pytest.mark.parametrize("option", [0, orjson.OPT_INDENT_2])
def test_the_same_bytes_as_copying_first(option: int) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for case in range(2_000):
        value = {"rows": [_value(rng) for _ in range(3)], "total": rng.choice(_LEAVES)}
        expected = orjson.dumps(to_jsonable(value), option=option)
        assert jsonable_dumps(value, option) == expected, f"seed {seed}, case {case}: {value!r}"


def test_keys_that_are_not_text_go_the_long_way() -> None:
    value = {None: Decimal("1.50"), 3: [date(2026, 1, 6)]}
    assert jsonable_dumps(value) == b'{"None":"1.5","3":["2026-01-06"]}'


def test_what_json_cannot_hold_is_refused_as_before() -> None:
    with pytest.raises(TypeError):
        jsonable_dumps({"a": {1, 2}})
