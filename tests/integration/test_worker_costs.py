"""Issue 12, "Done when" (b) and (c), through the worker on the real broker: seed 000's
result and every current model of the supported CLIs come out exact in ``totals`` and in
the lake (the ``parse``-level twins: tests/unit/commands/test_parse_cmd.py and
test_parse_prices.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import Settings
from producers.publish import PublishRequest, publish
from tests.integration.conftest import REPO
from tests.integration.harness import has_events, latest_totals, read_topic, running_worker, wait_for_query
from tests.integration.usage_lines import CACHE_READ, FRESH_INPUT, OUTPUT, write_run

pytestmark = pytest.mark.integration

SEED_000 = REPO / "tests" / "fixtures" / "claude-json" / "seed-000-result.json"
SEED_000_SESSION = "0c6f1e52-7d0b-4a5e-9a63-2f4c1b8d9e00"

# Current models of each CLI and the cost of one run of tests/integration/usage_lines.py
# (80,000 input, 20,000 cache read, 10,000 output) at `spendstream prices` of 2026-12-02:
# USD per million input / cache read / output in the comment.
CURRENT_MODELS = [
    ("claude-json", "claude-opus-4-8", "0.66"),  # 5 / 0.50 / 25
    ("claude-json", "claude-opus-4-7", "0.66"),  # 5 / 0.50 / 25
    ("claude-json", "claude-sonnet-5", "0.264"),  # 2 / 0.20 / 10
    ("claude-json", "claude-sonnet-4-6", "0.396"),  # 3 / 0.30 / 15
    ("claude-json", "claude-haiku-4-5", "0.132"),  # 1 / 0.10 / 5
    ("codex-json", "gpt-5.5", "0.71"),  # 5 / 0.50 / 30
    ("codex-json", "gpt-5.4", "0.355"),  # 2.50 / 0.25 / 15
    ("codex-json", "gpt-5.3-codex", "0.2835"),  # 1.75 / 0.175 / 14
    ("codex-json", "gpt-5.2-codex", "0.2835"),  # 1.75 / 0.175 / 14 (priced as gpt-5.2)
    ("gemini-json", "gemini-3.1-pro-preview", "0.284"),  # 2 / 0.20 / 12
    ("gemini-json", "gemini-3-pro-preview", "0.284"),  # 2 / 0.20 / 12
    ("gemini-json", "gemini-2.5-pro", "0.2025"),  # 1.25 / 0.125 / 10
    ("gemini-json", "gemini-2.5-flash", "0.0496"),  # 0.30 / 0.03 / 2.50
]

_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
)


@pytest.mark.parametrize("mode", ["reported", "computed"])
async def test_seed_000_is_exact_in_totals_and_the_lake(topics: Settings, mode: str) -> None:
    """Issue 12 (b): 6 in, 6 out, 83,842 five-minute cache write, $0.5241925, whether the
    CLI's figure is taken (``reported``) or the price table's (``computed``)."""
    settings = topics.model_copy(update={"cost_mode": mode})
    async with running_worker(settings):
        await publish(settings, PublishRequest((str(SEED_000),), "claude-json"))
        totals = await read_topic(settings, settings.topic("totals"), until=has_events({SEED_000_SESSION: 1}))
        rows = await wait_for_query(
            settings,
            f"SELECT session_id, model, {', '.join(_TOKEN_FIELDS)}, cost_usd, cost_source FROM usage",
            until=lambda rows: len(rows) >= 1,
        )
    own = latest_totals(totals)[SEED_000_SESSION]["own"]
    assert {name: own[name] for name in _TOKEN_FIELDS} == {
        "input_tokens": 6,
        "output_tokens": 6,
        "cache_write_5m_tokens": 83_842,
        "cache_write_1h_tokens": 0,
        "cache_read_tokens": 0,
    }
    assert Decimal(own["cost_usd"]) == Decimal("0.5241925")
    assert rows == [(SEED_000_SESSION, "claude-opus-4-6", 6, 6, 83_842, 0, 0, Decimal("0.5241925"), mode)]


async def test_every_current_model_is_priced_exactly_through_the_worker(
    topics: Settings, tmp_path: Path
) -> None:
    """Issue 12 (c): each model's run (its own CLI's format) costs exactly its price, computed."""
    folder = tmp_path / "runs"
    for fmt, model, _cost in CURRENT_MODELS:
        write_run(folder, fmt, model, f"s-{model}")
    sessions = {f"s-{model}": (model, cost) for _fmt, model, cost in CURRENT_MODELS}
    async with running_worker(topics):
        summary = await publish(topics, PublishRequest((str(folder),)))
        assert summary.files == len(CURRENT_MODELS)
        totals = await read_topic(
            topics, topics.topic("totals"), until=has_events(dict.fromkeys(sessions, 1))
        )
        rows = await wait_for_query(
            topics,
            "SELECT session_id, model, input_tokens, cache_read_tokens, output_tokens, cost_usd, cost_source "
            "FROM usage ORDER BY session_id",
            until=lambda rows: len(rows) >= len(sessions),
        )
    latest = latest_totals(totals)
    assert {s: Decimal(latest[s]["own"]["cost_usd"]) for s in sessions} == {
        s: Decimal(cost) for s, (_model, cost) in sessions.items()
    }
    assert rows == [
        (s, model, FRESH_INPUT, CACHE_READ, OUTPUT, Decimal(cost), "computed")
        for s, (model, cost) in sorted(sessions.items())
    ]
