"""Long-context tiers: one API response whose prompt exceeds a tier pays the tier's rates for
all of its tokens; a result summing several requests is priced at base rates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schemas.ledger import MemoryLedger
from schemas.sources.base import LineContext, Observation
from schemas.usage import TokenCounts

AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
CONTEXT = LineContext("claude-transcript", "r", "r:/f", 1, AT)
SONNET = "claude-sonnet-4-5"  # base 3 / 15 / 0.3 / 3.75; above 200,000 prompt tokens 6 / 22.5 / 0.6 / 7.5


def response(output: int, *, prompt: int = 210_000, message: str | None = "msg_1") -> Observation:
    return Observation(
        identity=f"claude:s:{message or 'result'}",
        session_id="s",
        event_time=AT,
        tokens=TokenCounts(input_tokens=prompt - 100_000, output_tokens=output, cache_read_tokens=100_000),
        model=SONNET,
        message_id=message,
    )


def counted(*observations: Observation) -> tuple[Decimal, Decimal]:
    ledger = MemoryLedger(mode="computed")
    events = [e for e in (ledger.observe(o, CONTEXT) for o in observations) if e is not None]
    cost = sum((e.cost_usd for e in events), Decimal(0))
    split = sum((sum(e.cost_split.parts(), Decimal(0)) for e in events if e.cost_split), Decimal(0))
    return cost, split


def test_a_response_above_the_tier_pays_the_tier_for_every_token() -> None:
    # 110,000 input at $6, 100,000 cache reads at $0.60, 1,000 output at $22.50 per million.
    assert counted(response(1_000)) == (Decimal("0.7425"), Decimal("0.7425"))


def test_at_the_threshold_it_is_base_rates() -> None:
    # 100,000 input at $3, 100,000 cache reads at $0.30, 1,000 output at $15 per million.
    assert counted(response(1_000, prompt=200_000))[0] == Decimal("0.345")


def test_a_result_over_several_requests_is_priced_at_base_rates() -> None:
    assert counted(response(1_000, message=None))[0] == Decimal("0.375")


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_lines_of_one_response_in_any_order_end_at_the_tier_cost(order: tuple[int, ...]) -> None:
    lines = [response(300), response(700), response(1_000)]
    cost, split = counted(*(lines[i] for i in order))
    assert cost == split == Decimal("0.7425")


def test_a_prompt_that_grows_into_the_tier_is_repriced_whole() -> None:
    first = response(1_000, prompt=150_000)
    grown = replace(response(1_000), identity=first.identity)
    assert counted(first, grown)[0] == Decimal("0.7425")
