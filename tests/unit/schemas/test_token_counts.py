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
