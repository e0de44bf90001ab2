from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schemas.sources.base import (
    MAX_COUNT,
    BadLine,
    child_scope,
    cost_field,
    count_field,
    fallback_scope,
    parse_timestamp,
    scope_lineage,
    sum_tokens,
)
from schemas.usage import TokenCounts

from ..support import PUBLISHED, context


@pytest.mark.parametrize("value", [-1, 1.0, True, "3", [], MAX_COUNT + 1])
def test_count_field_refuses_anything_but_a_bounded_integer(value: object) -> None:
    with pytest.raises(BadLine, match="n must be an integer"):
        count_field({"n": value}, "n")


def test_count_field_absent_or_null_is_zero() -> None:
    assert count_field({}, "n") == count_field({"n": None}, "n") == 0
    assert count_field({"n": MAX_COUNT}, "n") == MAX_COUNT


@pytest.mark.parametrize("value", ["0.1", True, -0.5, 1e300, 10**7])
def test_cost_field_refuses_non_numbers_negatives_and_absurd_amounts(value: object) -> None:
    with pytest.raises(BadLine, match="c "):
        cost_field({"c": value}, "c")


def test_cost_field_reads_the_float_the_cli_meant() -> None:
    assert cost_field({"c": 0.0856259}, "c") == Decimal("0.0856259")
    assert cost_field({}, "c") is None


def test_timestamps_are_utc_and_bounded() -> None:
    assert parse_timestamp("2026-01-06T10:16:06.951+01:00", PUBLISHED) == datetime(
        2026, 1, 6, 9, 16, 6, 951000, tzinfo=UTC
    )
    assert parse_timestamp(None, PUBLISHED) is PUBLISHED
    for bad in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+12:00", "x" * 100, "yesterday"):
        with pytest.raises(BadLine, match="timestamp"):
            parse_timestamp(bad, PUBLISHED)


def test_scope_lineage_keeps_order_drops_repeats_and_the_scope_itself() -> None:
    ctx = context("x", lineage=("root", "s-1", "s-1/agent-a"))
    assert scope_lineage(ctx, "s-1/agent-a", "s-1") == ("root", "s-1")
    assert scope_lineage(context("x"), "s-1") == ()


def test_child_scope_is_bounded() -> None:
    assert child_scope("s", "a") == "s/agent-a"
    with pytest.raises(BadLine, match="scope id longer"):
        child_scope("s" * 500, "a" * 20)


def test_sum_tokens_out_of_range_is_a_bad_line() -> None:
    with pytest.raises(BadLine, match="out of range"):
        sum_tokens([TokenCounts(input_tokens=10**15), TokenCounts(input_tokens=1)])


def test_fallback_scope_is_the_hint_else_the_stream_else_a_digest() -> None:
    assert fallback_scope(context("x", session_hint="task-9")) == "task-9"
    assert fallback_scope(context("x", stream="host:/p/rollout.jsonl")) == "host:/p/rollout.jsonl"
    long_stream = "host:" + "/deep" * 200
    scope = fallback_scope(context("x", stream=long_stream, session_hint="h" * 600))
    assert scope.startswith("stream-") and len(scope) == 39
    assert scope == fallback_scope(context("x", stream=long_stream))


def test_an_over_long_producer_lineage_is_a_bad_line() -> None:
    for bad in ("r" * 513, ""):
        with pytest.raises(BadLine, match="lineage ids must be"):
            scope_lineage(context("x", lineage=(bad,)), "s")
