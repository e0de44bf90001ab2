"""TokenCounts spells its fields out in the hot path (``__add__``, ``__post_init__``)."""

from __future__ import annotations

import pytest

from schemas.usage import TOKEN_FIELDS, SchemaError, TokenCounts


def test_token_counts_add_every_field() -> None:
    a = TokenCounts(*range(1, len(TOKEN_FIELDS) + 1))
    b = TokenCounts(*(10 * n for n in range(1, len(TOKEN_FIELDS) + 1)))
    assert (a + b).as_dict() == {name: 11 * n for n, name in enumerate(TOKEN_FIELDS, start=1)}


@pytest.mark.parametrize("name", TOKEN_FIELDS)
def test_every_field_is_validated_by_name(name: str) -> None:
    with pytest.raises(SchemaError, match=name):
        TokenCounts(**{name: -1})
    with pytest.raises(SchemaError, match=name):
        TokenCounts(**{name: 10**15 + 1})


def test_spelled_out_helpers_equal_their_field_by_field_definitions() -> None:
    """as_dict/as_list, field_max and minus spell their fields out: each field, in order."""
    import random

    from schemas.ledger_groups import field_max, minus

    seed = 20261203
    rng = random.Random(seed)
    for _ in range(500):
        a = TokenCounts(*(rng.choice((0, 1, rng.randrange(10**15 + 1))) for _ in TOKEN_FIELDS))
        b = TokenCounts(*(rng.choice((0, 1, rng.randrange(10**15 + 1))) for _ in TOKEN_FIELDS))
        assert a.as_dict() == {name: getattr(a, name) for name in TOKEN_FIELDS}, seed
        assert list(a.as_dict()) == list(TOKEN_FIELDS), seed
        assert a.as_list() == [getattr(a, name) for name in TOKEN_FIELDS], seed
        high = field_max(a, b)
        assert high == TokenCounts(*(max(getattr(a, n), getattr(b, n)) for n in TOKEN_FIELDS)), seed
        assert minus(high, b) == TokenCounts(*(getattr(high, n) - getattr(b, n) for n in TOKEN_FIELDS)), seed
