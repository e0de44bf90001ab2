"""Prices by date: the price in force at an event's time, from the genai-prices snapshot."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.ledger import MemoryLedger
from schemas.pricing import ModelPrice, ModelPrices, PricePeriod, default_price_table
from schemas.sources import LineContext, Observation
from schemas.usage import TokenCounts

ONE_M = TokenCounts(input_tokens=1_000_000)


def price(input_: str) -> ModelPrice:
    amount = Decimal(input_)
    return ModelPrice(amount, amount, amount, amount, amount)


HISTORY = ModelPrices(
    "m",
    (
        PricePeriod(None, price("10")),
        PricePeriod(date(2025, 6, 10), price("2")),
        PricePeriod(date(2027, 1, 1), price("3")),
    ),
    "test",
)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2020, 1, 1, tzinfo=UTC), "10"),
        (datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC), "10"),
        (datetime(2025, 6, 10, tzinfo=UTC), "2"),
        # 2025-06-10 01:00 in UTC+02:00 is 2025-06-09 23:00 UTC: the old price.
        (datetime(2025, 6, 10, 1, tzinfo=timezone(timedelta(hours=2))), "10"),
        (datetime(2025, 6, 10, 12), "2"),  # naive: UTC
        (date(2026, 12, 31), "2"),
        (date(2027, 1, 1), "3"),
        (None, "3"),  # no time: the latest listed price
    ],
)
def test_period_at_picks_the_price_in_force(at: datetime | date | None, expected: str) -> None:
    assert HISTORY.period_at(at).price.input == Decimal(expected)


def test_before_the_first_dated_price_the_first_applies() -> None:
    dated_only = ModelPrices("m", (PricePeriod(date(2025, 1, 1), price("4")),), "test")
    assert dated_only.period_at(date(2024, 1, 1)).price.input == Decimal(4)


def test_o3_price_cut_from_the_snapshot() -> None:
    table = default_price_table()
    assert table.cost(ONE_M, "o3", datetime(2025, 6, 9, tzinfo=UTC)) == Decimal(10)
    assert table.cost(ONE_M, "o3", datetime(2025, 6, 10, tzinfo=UTC)) == Decimal(2)
    assert table.cost(ONE_M, "o3") == Decimal(2)


def test_the_ledger_prices_each_delta_at_its_event_time() -> None:
    ledger = MemoryLedger(mode="computed")
    context = LineContext(
        source="codex-json", runner_id="r", stream_id="s", position=1, published_at=datetime.now(UTC)
    )
    before = Observation("codex:s", "s", datetime(2025, 6, 9, tzinfo=UTC), ONE_M, model="o3")
    after = Observation(
        "codex:s", "s", datetime(2025, 6, 11, tzinfo=UTC), TokenCounts(input_tokens=2_000_000), model="o3"
    )
    costs = [e.cost_usd for e in (ledger.observe(before, context), ledger.observe(after, context)) if e]
    assert costs == [Decimal(10), Decimal(2)]


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-8",
        "claude-opus-4-7",
        "claude-sonnet-5",
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        "gpt-5.5",
        "gpt-5.4",
        "gpt-5.3-codex",
        "gpt-5.2-codex",
        "gemini-3.1-pro-preview",
        "gemini-3-pro-preview",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
    ],
)
def test_current_models_of_the_supported_clis_are_priced(model: str) -> None:
    assert default_price_table().lookup(model, datetime(2026, 11, 23, tzinfo=UTC)) is not None


def test_claude_cache_writes_come_from_the_snapshot() -> None:
    sonnet_5 = default_price_table().lookup("claude-sonnet-5")
    assert sonnet_5 is not None
    assert (sonnet_5.cache_write_5m, sonnet_5.cache_write_1h) == (Decimal("2.5"), Decimal(4))


@pytest.mark.parametrize(
    "model", ["claude-opus-4-9", "gpt-5.9", "gpt-5.3-codex-spark", "gemini-9-pro", "claude-imaginary-9"]
)
def test_look_alikes_stay_unpriced(model: str) -> None:
    assert default_price_table().lookup(model) is None


def test_tiers_are_listed_not_applied() -> None:
    history = default_price_table().history("gpt-5.4")
    assert history is not None
    tier = history.period_at(None).tiers[0]
    assert (tier.above, tier.price.input) == (272_000, Decimal(5))
    big_prompt = TokenCounts(input_tokens=300_000)
    assert default_price_table().cost(big_prompt, "gpt-5.4") == Decimal("0.75")  # base rate


def test_loading_prices_opens_no_connection(tmp_path: Path) -> None:
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\nsocket.getaddrinfo = refuse\n"
        "from schemas.pricing import default_price_table\n"
        "t = default_price_table(); assert t.lookup('gpt-5.5') is not None\n"
        "assert 'genai_prices' in sys.modules  # built, not read from the price cache\n"
    )
    env = {**os.environ, "SPENDSTREAM_CACHE_DIR": str(tmp_path / "empty-cache")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert socket.socket  # the test process itself is untouched
