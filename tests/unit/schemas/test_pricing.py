from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.pricing import (
    COST_MODES,
    ModelPrice,
    PricingError,
    canonical_model,
    default_price_table,
    price_table_from_json,
)
from schemas.usage import TokenCounts

REPO = Path(__file__).resolve().parents[3]
OPUS_45_TRANSCRIPT = TokenCounts(
    input_tokens=2_016, output_tokens=64_185, cache_write_5m_tokens=622_125, cache_read_tokens=10_172_221
)


def test_opus_4_5_list_prices() -> None:
    price = default_price_table().lookup("claude-opus-4-5-20251101")
    assert price == ModelPrice(
        input=Decimal(5),
        output=Decimal(25),
        cache_write_5m=Decimal("6.25"),
        cache_write_1h=Decimal(10),
        cache_read=Decimal("0.5"),
        web_search_per_1k=Decimal(10),
    )


def test_transcript_fixture_costs_exactly_10_58909675() -> None:
    cost = default_price_table().cost(OPUS_45_TRANSCRIPT, "claude-opus-4-5-20251101")
    assert cost == Decimal("10.58909675")


@pytest.mark.parametrize(
    ("model", "canonical"),
    [
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-sonnet-4-5-20250929[1m]", "claude-sonnet-4-5"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("anthropic/claude-opus-4-1", "claude-opus-4-1"),
        ("openai/GPT-5", "gpt-5"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gpt-5.1-codex-mini", "gpt-5.1-codex-mini"),
    ],
)
def test_canonical_model_drops_what_does_not_change_the_price(model: str, canonical: str) -> None:
    assert canonical_model(model) == canonical
    assert default_price_table().lookup(model) is not None


@pytest.mark.parametrize(
    "model", [None, "", "<synthetic>", "claude-opus-4-5-custom", "gpt-5-turbo", "gemini-3"]
)
def test_unknown_models_are_unpriced_not_guessed(model: str | None) -> None:
    assert default_price_table().lookup(model) is None
    assert default_price_table().cost(TokenCounts(input_tokens=1), model) is None


def test_aliases_resolve() -> None:
    table = default_price_table()
    assert table.lookup("claude-opus-4-20250514") == table.lookup("claude-opus-4-0")
    assert table.lookup("claude-3-5-haiku-latest") == table.lookup("claude-3-5-haiku-20241022")


def test_reasoning_is_part_of_output_and_priced_once() -> None:
    price = default_price_table().lookup("gpt-5")
    assert price is not None
    plain = price.cost(TokenCounts(output_tokens=1_000))
    with_reasoning = price.cost(TokenCounts(output_tokens=1_000, reasoning_tokens=900))
    assert plain == with_reasoning == Decimal("0.01")


def test_web_searches_are_priced_per_request() -> None:
    price = default_price_table().lookup("claude-sonnet-4-5")
    assert price is not None
    assert price.cost(TokenCounts(web_search_requests=3)) == Decimal("0.03")


def test_bundled_table_records_date_and_sources() -> None:
    table = default_price_table()
    assert table.as_of == "genai-prices 0.2.3; schemas/pricing.json of 2026-11-23"
    assert all(h.source for h in table.models.values())
    claude_1h_is_twice_input = [
        (name, period.since)
        for name, h in table.models.items()
        for period in h.periods
        if name.startswith(("claude-opus", "claude-sonnet", "claude-haiku", "claude-3-"))
        and period.price.cache_write_1h != 2 * period.price.input
    ]
    assert claude_1h_is_twice_input == []


def test_table_is_package_data() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "*.json" in pyproject["tool"]["setuptools"]["package-data"]["schemas"]
    assert (REPO / "schemas" / "pricing.json").is_file()


@given(
    st.builds(TokenCounts, *(st.integers(0, 10**11) for _ in range(7))),
    st.builds(TokenCounts, *(st.integers(0, 10**11) for _ in range(7))),
    st.sampled_from(sorted(default_price_table().models)),
)
def test_cost_is_exact_and_linear(a: TokenCounts, b: TokenCounts, model: str) -> None:
    table = default_price_table()
    cost_a, cost_b, cost_ab = table.cost(a, model), table.cost(b, model), table.cost(a + b, model)
    assert cost_a is not None and cost_b is not None
    assert cost_ab == cost_a + cost_b


_FULL = {n: "1" for n in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")}


def test_a_minimal_table_loads() -> None:
    table = price_table_from_json(orjson.dumps({"models": {"m": _FULL}, "as_of": "x"}))
    assert table.cost(TokenCounts(input_tokens=1_000_000, web_search_requests=5), "M") == Decimal(1)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"[]", "must be an object"),
        ({"models": {"m": {**_FULL, "input": 1.5}}}, "decimal string"),
        ({"models": {"m": {**_FULL, "input": "0.0000001"}}}, "decimal places"),
        ({"models": {"M-20250101": {}}}, "canonical"),
        ({"models": {"m": {"input": "1"}}}, "missing"),
        ({"models": {}, "aliases": {"a": "nope"}}, "unknown model"),
        ({"models": {"m": {**_FULL, "cache_read": "-1"}}}, "non-negative"),
        ({"models": {"m": {**_FULL, "output": "NaN"}}}, "non-negative"),
    ],
)
def test_bad_tables_are_refused(doc: object, message: str) -> None:
    data = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    with pytest.raises(PricingError, match=message):
        price_table_from_json(data)


def test_cost_modes_are_named() -> None:
    assert COST_MODES == ("reported", "computed", "reported-only")
