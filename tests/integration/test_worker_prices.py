"""Issue 3 in the worker: a user price file and the reported-vs-computed disagreement counter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import Settings
from producers.publish import PublishRequest, publish
from tests.integration.harness import read_topic, running_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OPENCLAW = REPO / "tests" / "fixtures" / "openclaw" / "8555a0a4-0b79-459d-939c-e17cdbbf4fe2.jsonl"
# gpt-5.4 at $1.80 per million input tokens instead of $1.75: 5 of the fixture's 10
# responses then differ from their reported cost by more than 1% (see test_parse_cmd.py).
DEARER = {
    "input": "1.80",
    "output": "14",
    "cache_write_5m": "1.75",
    "cache_write_1h": "1.75",
    "cache_read": "0.175",
}


def _root_cost(records: list[Any]) -> str | None:
    for message in reversed(records):
        record = orjson.loads(message.value)
        if record["parent_id"] is None and record["subtree"]["events"] == 10:
            return str(record["subtree"]["cost_usd"])
    return None


@pytest.mark.parametrize(
    ("mode", "cost"),
    [("reported", "0.187933200000"), ("computed", "0.192035200000")],
)
async def test_worker_prices_with_the_user_file_and_counts_disagreements(
    topics: Settings, tmp_path: Path, mode: str, cost: str
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_bytes(orjson.dumps({"models": {"gpt-5.4": DEARER}}))
    settings = topics.model_copy(update={"prices_file": prices, "cost_mode": mode})
    async with running_worker(settings) as app:
        await publish(settings, PublishRequest((str(OPENCLAW),), "openclaw"))
        totals = await read_topic(
            settings, settings.topic("totals"), until=lambda r: _root_cost(r) is not None
        )
        metrics = app.spendstream_metrics.to_json_dict()  # type: ignore[attr-defined]
    assert _root_cost(totals) == cost
    assert metrics["usage_events"] == 10
    assert metrics["cost_disagreements"] == 5
