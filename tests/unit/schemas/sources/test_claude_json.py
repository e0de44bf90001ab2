from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from schemas.money import ZERO_USD
from schemas.sources import BadLine
from schemas.sources.claude_json import parse
from schemas.usage import TokenCounts

from ..support import context, fixture_lines, run

FMT = "claude-json"


@pytest.fixture(scope="module")
def line(real_fixtures: Path) -> bytes:
    (only,) = fixture_lines(real_fixtures / "claude-json" / "result-success.json")
    return only


def test_fixture_exact_tokens_and_reported_cost(line: bytes) -> None:
    (event,) = run(FMT, [line])
    assert event.tokens == TokenCounts(
        input_tokens=4, output_tokens=18, cache_write_5m_tokens=3_548, cache_read_tokens=11_459
    )
    assert (event.cost_usd, event.cost_source) == (Decimal("0.0856259"), "reported")
    assert event.session_id == "145cc619-8afc-49bd-8c24-81ce5bebe88d" and event.model is None


def test_fixture_in_computed_mode_is_unpriced_without_a_model(line: bytes) -> None:
    (event,) = run(FMT, [line], mode="computed")
    assert (event.cost_usd, event.cost_source) == (ZERO_USD, "unpriced")


def test_the_same_result_twice_counts_once(line: bytes) -> None:
    assert len(run(FMT, [line, line])) == 1


def result(**fields: object) -> bytes:
    return orjson.dumps({"type": "result", "session_id": "s-1", "uuid": "u-1", **fields})


def test_model_usage_gives_one_observation_per_model() -> None:
    line = result(
        subtype="error_max_turns",
        is_error=True,
        total_cost_usd=0.3,
        modelUsage={
            "claude-opus-4-5-20251101": {
                "inputTokens": 10,
                "outputTokens": 20,
                "cacheReadInputTokens": 30,
                "costUSD": 0.25,
            },
            "claude-haiku-4-5-20251001": {
                "inputTokens": 1,
                "outputTokens": 2,
                "webSearchRequests": 1,
                "costUSD": 0.05,
            },
        },
    )
    events = run(FMT, [line])
    assert [(e.model, e.cost_usd) for e in events] == [
        ("claude-haiku-4-5-20251001", Decimal("0.05")),
        ("claude-opus-4-5-20251101", Decimal("0.25")),
    ]
    assert events[1].tokens == TokenCounts(input_tokens=10, output_tokens=20, cache_read_tokens=30)


def test_older_builds_cost_usd() -> None:
    (event,) = run(FMT, [result(usage={"input_tokens": 1}, cost_usd=0.01)])
    assert event.cost_usd == Decimal("0.01")


def test_without_uuid_the_result_is_named_by_its_stream_position() -> None:
    (o,), _ = parse(orjson.dumps({"type": "result", "session_id": "s", "usage": {}}), context(FMT, 7), None)
    assert o.identity == "claude-json:s:stream-1@7"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"type":"assistant"}', "result object"),
        (result(), "no usage"),
        (result(usage={"input_tokens": 1}, total_cost_usd="SECRET"), "total_cost_usd"),
        (result(usage={"input_tokens": 1}, total_cost_usd=1e300), "total_cost_usd"),
        (result(usage={"input_tokens": 10**13}), "input_tokens"),
        (result(usage="SECRET"), "usage must be an object"),
        (result(usage={"cache_creation": []}), "cache_creation"),
        (orjson.dumps({"type": "result", "session_id": "SECRET" * 100, "usage": {}}), "session_id"),
    ],
)
def test_bad_results(line: bytes, reason: str) -> None:
    with pytest.raises(BadLine, match=reason) as caught:
        parse(line, context(FMT), None)
    assert "SECRET" not in caught.value.reason
