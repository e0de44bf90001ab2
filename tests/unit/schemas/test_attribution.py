"""The cost split (schemas/attribution.py): parts always sum exactly to the event's cost,
and events name the API response they belong to (ids only)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.attribution import share_exactly, split_cost
from schemas.ledger import MemoryLedger
from schemas.money import ZERO_USD
from schemas.pricing import ModelPrice, default_price_table
from schemas.sources import Observation
from schemas.usage import COST_PART_FIELDS, CostSplit, SchemaError, TokenCounts, UsageEvent

from .support import context, fixture_lines, parse_stream, run

OPUS = "claude-opus-4-5-20251101"
OPUS_PRICE = ModelPrice(Decimal(5), Decimal(25), Decimal("6.25"), Decimal(10), Decimal("0.5"), Decimal(10))
T0 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)

counts = st.integers(0, 10**12)
amounts = st.decimals(0, 10**6, places=12, allow_nan=False, allow_infinity=False)
prices = st.decimals(0, 1000, places=6, allow_nan=False, allow_infinity=False)
token_counts = st.builds(
    TokenCounts,
    input_tokens=counts,
    output_tokens=counts,
    cache_read_tokens=counts,
    cache_write_5m_tokens=counts,
    cache_write_1h_tokens=counts,
    web_search_requests=st.integers(0, 10**6),
)
model_prices = st.none() | st.builds(ModelPrice, prices, prices, prices, prices, prices, prices)


@given(token_counts, amounts, model_prices)
def test_parts_always_sum_exactly_and_are_never_negative(
    tokens: TokenCounts, cost: Decimal, price: ModelPrice | None
) -> None:
    split = split_cost(tokens, cost, price)
    assert split.total == cost
    assert all(part >= ZERO_USD for part in split.parts())


@given(token_counts, model_prices)
def test_a_computed_cost_is_split_at_the_price_of_each_part(
    tokens: TokenCounts, price: ModelPrice | None
) -> None:
    if price is None:
        return
    split = split_cost(tokens, price.cost(tokens), price)
    assert split == price.cost_split(tokens)


@given(amounts, st.lists(amounts, min_size=1, max_size=5))
def test_shares_follow_the_weights_within_a_picodollar_each(amount: Decimal, weights: list[Decimal]) -> None:
    shares = share_exactly(amount, tuple(weights))
    assert sum(shares, ZERO_USD) == amount and len(shares) == len(weights)
    total = sum(weights, ZERO_USD)
    if total:
        for share, weight in zip(shares, weights, strict=True):
            assert abs(share - amount * weight / total) < Decimal(len(weights)) * Decimal("1e-12")


def test_reported_cost_is_shared_rounding_down_with_the_remainder_on_the_largest_part() -> None:
    # Priced parts 1 : 2 : 0 : 0 : 0 (input 1,000,000 at $1, output 1,000,000 at $2).
    price = ModelPrice(Decimal(1), Decimal(2), Decimal(0), Decimal(0), Decimal(0))
    tokens = TokenCounts(input_tokens=10**6, output_tokens=10**6)
    split = split_cost(tokens, Decimal("1.000000000000"), price)
    assert split == CostSplit(input=Decimal("0.333333333333"), output=Decimal("0.666666666667"))


def test_no_price_or_nothing_to_weigh_puts_everything_on_input() -> None:
    tokens = TokenCounts(output_tokens=5)
    assert split_cost(tokens, Decimal("0.25"), None) == CostSplit(input=Decimal("0.25"))
    assert split_cost(TokenCounts(), Decimal("0.25"), OPUS_PRICE) == CostSplit(input=Decimal("0.25"))


def test_web_searches_are_part_of_input() -> None:
    price = ModelPrice(Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(10))
    split = price.cost_split(TokenCounts(web_search_requests=3))
    assert split == CostSplit(input=Decimal("0.03")) and split.total == price.cost(
        TokenCounts(web_search_requests=3)
    )


def observation(
    identity: str, *, cost: str | None = None, group: str | None = None, total: bool = False, **n: int
) -> Observation:
    return Observation(
        identity=identity,
        session_id="s1",
        event_time=T0,
        tokens=TokenCounts(**n),
        reported_cost_usd=None if cost is None else Decimal(cost),
        model=OPUS,
        group=group,
        is_group_total=total,
        message_id=f"msg-{identity}",
        request_id=f"req-{identity}",
    )


steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "r"]),
        st.none() | st.decimals(0, 100, places=7, allow_nan=False, allow_infinity=False),
        st.integers(0, 10**7),
        st.integers(0, 10**7),
        st.integers(0, 10**8),
        st.integers(0, 10**6),
    ),
    max_size=12,
)


@pytest.mark.parametrize("mode", ["reported", "computed", "reported-only"])
@settings(deadline=None)  # the first example loads the price table
@given(steps=steps)
def test_every_ledger_event_splits_exactly_in_every_mode(mode: str, steps: list[tuple[object, ...]]) -> None:
    """Identities a and b are parts of group g, r its reported total (stream-json's shape):
    reported costs, group excesses and computed costs all split exactly."""
    ledger = MemoryLedger(mode=mode)  # type: ignore[arg-type]
    ctx = context("claude-stream-json")
    for name, cost, inp, out, read, write in steps:
        obs = observation(
            str(name),
            cost=None if cost is None else str(cost),
            group="g",
            total=name == "r",
            input_tokens=int(str(inp)),
            output_tokens=int(str(out)),
            cache_read_tokens=int(str(read)),
            cache_write_5m_tokens=int(str(write)),
        )
        event = ledger.observe(obs, ctx)
        if event is not None:
            assert event.cost_split is not None and event.cost_split.total == event.cost_usd
            assert (event.message_id, event.request_id) == (f"msg-{name}", f"req-{name}")


def test_claude_json_reported_cost_is_split_by_the_price_of_its_tokens(real_fixtures: Path) -> None:
    lines = fixture_lines(real_fixtures / "claude-json" / "result-success.json")
    [event] = run("claude-json", lines)
    assert event.cost_source == "reported" and event.cost_usd == Decimal("0.0856259")
    assert event.cost_split is not None and event.cost_split.total == event.cost_usd
    assert event.message_id is None and event.request_id is None  # a run names no response
    # The capture names no model, so nothing weighs the parts: all of it is input.
    assert event.cost_split == CostSplit(input=Decimal("0.0856259"))


def test_transcript_events_name_their_response_and_split_at_list_prices(real_fixtures: Path) -> None:
    path = real_fixtures / "claude-transcript" / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
    events = run("claude-transcript", fixture_lines(path))
    responses = {(e.message_id, e.request_id) for e in events}
    assert len(responses) == 100 and all(m and m.startswith("msg_") for m, _ in responses)
    assert sum(1 for _, r in responses if r is None) == 1  # the one line without requestId
    split = [e.cost_split for e in events]
    assert all(s is not None for s in split)
    total = CostSplit(
        *(sum((getattr(s, f) for s in split if s), ZERO_USD) for f in (x.name for x in fields(CostSplit)))
    )
    assert total == CostSplit(
        input=Decimal("0.010080"),
        output=Decimal("1.604625"),
        cache_read=Decimal("5.0861105"),
        cache_write_5m=Decimal("3.88828125"),
    )
    assert total.total == Decimal("10.58909675")


def test_other_sources_name_what_they_have(real_fixtures: Path) -> None:
    stream = fixture_lines(real_fixtures / "claude-stream-json" / "assistant-with-usage.jsonl")
    [(obs, _)] = parse_stream("claude-stream-json", stream)
    assert (obs.message_id, obs.request_id) == ("msg_01YV5oPm3LyM8xCx4QfX9oBn", None)
    codex = fixture_lines(real_fixtures / "codex-exec-json" / "hello_world.jsonl")
    assert [(o.message_id, o.request_id) for o, _ in parse_stream("codex-json", codex)] == [(None, None)]
    openclaw = Path(__file__).resolve().parents[2] / "fixtures" / "openclaw"
    ids = [o.message_id for o, _ in parse_stream("openclaw", fixture_lines(next(openclaw.glob("*.jsonl"))))]
    assert ids and all(i and len(i) == 8 for i in ids)


def test_json_round_trip_and_events_written_before_the_split(real_fixtures: Path) -> None:
    path = real_fixtures / "claude-transcript" / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
    event = run("claude-transcript", fixture_lines(path))[0]
    assert UsageEvent.from_json(event.to_json()) == event
    old = orjson.loads(event.to_json())
    for name in ("message_id", "request_id", *COST_PART_FIELDS):
        del old[name]
    legacy = UsageEvent.from_json_dict(old)
    assert (legacy.message_id, legacy.request_id, legacy.cost_split) == (None, None, None)
    with pytest.raises(SchemaError, match="all of"):
        UsageEvent.from_json_dict({**orjson.loads(event.to_json()), "output_cost_usd": None})
    with pytest.raises(SchemaError, match="does not sum"):
        event.with_changes(cost_split=CostSplit(input=event.cost_usd + Decimal("1e-12")))
    with pytest.raises(SchemaError, match="message_id"):
        event.with_changes(message_id="x" * 513)


def test_the_default_table_prices_opus_as_the_fixture_says() -> None:
    assert default_price_table().lookup(OPUS, T0) == OPUS_PRICE
