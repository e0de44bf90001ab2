"""OpenClaw session transcripts: the real capture in tests/fixtures/openclaw/ (SOURCES.md)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from schemas.ledger import MemoryLedger
from schemas.pricing import load_price_table
from schemas.sources import BadLine
from schemas.sources.openclaw import parse
from schemas.usage import TokenCounts

from ..support import account, context, fixture_lines, parse_stream, run, total_cost, total_tokens

FMT = "openclaw"
FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "openclaw"
SESSION = "8555a0a4-0b79-459d-939c-e17cdbbf4fe2"
TOTAL = TokenCounts(input_tokens=82_040, output_tokens=1_620, cache_read_tokens=123_904)


def lines() -> list[bytes]:
    return fixture_lines(FIXTURE / f"{SESSION}.jsonl")


def test_real_session_exact_totals_and_reported_cost() -> None:
    events = run(FMT, lines())
    assert len(events) == 10
    assert total_tokens(events) == TOTAL
    assert total_cost(events) == Decimal("0.1879332")
    assert {(e.session_id, e.model, e.cost_source, e.auth_mode, e.source) for e in events} == {
        (SESSION, "gpt-5.4", "reported", "subscription", FMT)
    }
    first = events[0]
    assert first.tokens == TokenCounts(input_tokens=12_310, output_tokens=191, cache_read_tokens=1_536)
    # 0.024485299999999998 as JSON means 0.0244853 (its shortest repr at 12 places).
    assert first.cost_usd == Decimal("0.0244853")
    assert first.event_time.isoformat() == "2026-03-08T13:03:56.150000+00:00"


def test_content_never_reaches_an_event() -> None:
    for event in run(FMT, lines()):
        assert b"OPENCLAW-CONTENT-MARKER" not in event.to_json()


def test_zero_usage_error_and_injected_lines_carry_no_usage() -> None:
    pairs = parse_stream(FMT, lines())
    assert len(pairs) == 10  # 10 responses with usage; the 3 all-zero assistant lines give nothing
    assert all(not obs.tokens.is_zero() for obs, _ in pairs)


def test_computed_mode_prices_the_tokens_when_the_model_is_in_the_table(tmp_path: Path) -> None:
    # The bundled table (genai-prices) prices gpt-5.4 at $2.50/M input, not OpenClaw's $1.75.
    bundled = run(FMT, lines(), mode="computed")
    assert {e.cost_source for e in bundled} == {"computed"}
    assert total_cost(bundled) != Decimal("0.1879332")
    prices = tmp_path / "prices.json"
    entry = {
        "input": "1.75",
        "output": "14",
        "cache_write_5m": "1.75",
        "cache_write_1h": "1.75",
        "cache_read": "0.175",
    }
    prices.write_bytes(orjson.dumps({"models": {"gpt-5.4": entry}}))
    ledger = MemoryLedger(prices=load_price_table(prices), mode="computed")
    events = account(parse_stream(FMT, lines()), ledger)
    # OpenClaw priced this install's gpt-5.4 at the same rates: computed == reported, exactly.
    assert total_cost(events) == Decimal("0.1879332")
    assert {e.cost_source for e in events} == {"computed"}


def test_republished_file_counts_once() -> None:
    once = run(FMT, lines())
    twice = account([*parse_stream(FMT, lines()), *parse_stream(FMT, lines(), stream="stream-2")])
    assert total_tokens(twice) == total_tokens(once) == TOTAL


def test_without_the_header_the_stream_is_the_scope() -> None:
    events = run(FMT, lines()[1:], session_hint="run-7")
    assert total_tokens(events) == TOTAL
    assert {e.session_id for e in events} == {"run-7"}


def test_bare_number_cost_and_missing_cost() -> None:
    usage = b'{"type":"message","id":"a1","message":{"role":"assistant","model":"m","usage":%s}}'
    observations, _ = parse(
        usage % b'{"input":100,"output":50,"cost":0.0042}', context(FMT), {"session": "s"}
    )
    assert observations[0].reported_cost_usd == Decimal("0.0042")
    observations, _ = parse(usage % b'{"input":100,"output":50}', context(FMT), {"session": "s"})
    assert observations[0].reported_cost_usd is None
    assert observations[0].identity == "openclaw:s:a1"
    assert observations[0].auth_mode is None


def test_other_entries_are_valid_without_usage() -> None:
    for line in (
        b'{"type":"model_change","id":"x","provider":"anthropic","modelId":"claude-opus-4-5"}',
        b'{"type":"message","id":"u","message":{"role":"user","content":[]}}',
        b'{"type":"message","id":"t","message":{"role":"toolResult","content":[]}}',
        b'{"type":"message","id":"n","message":{"role":"assistant","content":[]}}',
        b'{"type":"compaction","id":"c","summary":"..."}',
    ):
        assert parse(line, context(FMT), {"session": "s"}) == ([], {"session": "s"})


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"message","message":{"role":"assistant","usage":{"input":-1}}}',
        b'{"type":"message","message":{"role":"assistant","usage":{"output":1.5}}}',
        b'{"type":"message","message":{"role":"assistant","usage":{"input":1,"cost":{"total":-0.1}}}}',
        b'{"type":"message","message":"text"}',
        b'{"type":"session"}',
        b'{"message":{}}',
    ],
)
def test_bad_lines(line: bytes) -> None:
    with pytest.raises(BadLine):
        parse(line, context(FMT), None)
