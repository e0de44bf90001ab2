"""Issue 12 item 2: a result's ``modelUsage`` and ``usage`` agree on the run's totals."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from schemas.money import split_by_weight
from schemas.sources.anthropic_usage import result_model_tokens, result_totals
from schemas.sources.claude_json import parse
from schemas.usage import TokenCounts

from ..support import context

OPUS = "claude-opus-4-6"
HAIKU = "claude-haiku-4-5-20251001"


def result(**fields: Any) -> dict[str, Any]:
    return {"type": "result", "session_id": "s-1", "uuid": "u-1", **fields}


def per_model(obj: dict[str, Any]) -> dict[str, TokenCounts]:
    return {model: tokens for model, _entry, tokens in result_model_tokens(obj)}


def test_one_model_takes_the_cache_write_usage_has_and_model_usage_lacks() -> None:
    obj = result(
        usage={"input_tokens": 6, "output_tokens": 6, "cache_creation_input_tokens": 83_842},
        modelUsage={OPUS: {"inputTokens": 6, "outputTokens": 6, "costUSD": 0.5241925}},
    )
    expected = TokenCounts(input_tokens=6, output_tokens=6, cache_write_5m_tokens=83_842)
    assert per_model(obj) == {OPUS: expected}
    assert result_totals(obj) == (expected, OPUS)
    (observation,), _ = parse(orjson.dumps(obj), context("claude-json"), None)
    assert observation.tokens == expected and observation.model == OPUS


def test_one_model_takes_cache_read_and_the_5m_1h_split() -> None:
    usage = {
        "cache_read_input_tokens": 700,
        "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
    }
    obj = result(usage=usage, modelUsage={OPUS: {"inputTokens": 1, "outputTokens": 2}})
    assert per_model(obj)[OPUS] == TokenCounts(
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=700,
        cache_write_5m_tokens=100,
        cache_write_1h_tokens=200,
    )


def test_several_models_split_by_their_own_tokens_remainder_to_the_largest() -> None:
    # Weights: opus 60 + 40 = 100, haiku 20 + 10 = 30. 1,001 writes: haiku 1001*30//130 = 231,
    # opus 1001*100//130 = 770 plus the 0 left over; 10 reads: haiku 2, opus 7 + 1 left over.
    obj = result(
        usage={"cache_creation_input_tokens": 1_001, "cache_read_input_tokens": 10},
        modelUsage={
            OPUS: {"inputTokens": 60, "outputTokens": 40, "costUSD": 0.1},
            HAIKU: {"inputTokens": 20, "outputTokens": 10, "costUSD": 0.01},
        },
    )
    tokens = per_model(obj)
    assert (tokens[OPUS].cache_write_5m_tokens, tokens[HAIKU].cache_write_5m_tokens) == (770, 231)
    assert (tokens[OPUS].cache_read_tokens, tokens[HAIKU].cache_read_tokens) == (8, 2)
    total, model = result_totals(obj)
    assert (total.cache_write_5m_tokens, total.cache_read_tokens, model) == (1_001, 10, None)
    assert (total.input_tokens, total.output_tokens) == (80, 50)


def test_a_field_model_usage_reports_is_its_own_and_usage_fills_only_the_other() -> None:
    obj = result(
        usage={"cache_creation_input_tokens": 999, "cache_read_input_tokens": 50},
        modelUsage={
            OPUS: {"inputTokens": 1, "cacheCreationInputTokens": 400},
            HAIKU: {"inputTokens": 1},  # reports no cache write: 0, modelUsage has the field
        },
    )
    tokens = per_model(obj)
    assert (tokens[OPUS].cache_write_5m_tokens, tokens[HAIKU].cache_write_5m_tokens) == (400, 0)
    # Reads are in no entry: weights opus 401, haiku 1 -> 50*401//402 = 49, 0, remainder 1 to opus.
    assert (tokens[OPUS].cache_read_tokens, tokens[HAIKU].cache_read_tokens) == (50, 0)


def test_fields_present_in_both_keep_model_usage() -> None:
    entry = {"inputTokens": 3, "outputTokens": 4, "cacheReadInputTokens": 5, "cacheCreationInputTokens": 6}
    obj = result(
        usage={"input_tokens": 99, "cache_read_input_tokens": 99, "cache_creation_input_tokens": 99},
        modelUsage={OPUS: entry},
    )
    assert per_model(obj)[OPUS] == TokenCounts(
        input_tokens=3, output_tokens=4, cache_read_tokens=5, cache_write_5m_tokens=6
    )


def test_fields_absent_in_both_are_zero() -> None:
    for usage in ({"input_tokens": 3}, None):
        fields = {"usage": usage} if usage is not None else {}
        obj = result(**fields, modelUsage={OPUS: {"inputTokens": 3, "outputTokens": 4}})
        assert per_model(obj)[OPUS] == TokenCounts(input_tokens=3, output_tokens=4)


def test_split_by_weight_edges() -> None:
    assert split_by_weight(10, [1, 1, 1]) == [4, 3, 3]  # equal weights: the first takes the rest
    assert split_by_weight(7, [0, 0]) == [7, 0]  # no weight at all: all to the first
    assert split_by_weight(5, [0, 3]) == [0, 5]
    assert split_by_weight(0, [2, 9]) == [0, 0]
    assert split_by_weight(5, []) == []


@given(
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=8),
)
def test_split_by_weight_is_exact_and_never_negative(amount: int, weights: list[int]) -> None:
    shares = split_by_weight(amount, weights)
    assert sum(shares) == amount and all(share >= 0 for share in shares)
    assert len(shares) == len(weights)
