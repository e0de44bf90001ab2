"""The real Claude Code transcript through the whole pipeline, published twice: exact once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from producers.publish import PublishRequest, publish
from tests.integration.harness import read_topic, running_worker, wait_for_query

pytestmark = pytest.mark.integration

SESSION = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"


async def test_real_transcript_published_twice_counts_once(topics: Settings, real_fixtures: Path) -> None:
    transcript = real_fixtures / "claude-transcript" / f"{SESSION}.jsonl"
    request = PublishRequest(paths=(str(transcript),), source="claude-transcript")
    async with running_worker(topics):
        await publish(topics, request)  # redacted by default
        await publish(topics, request)  # a repeated backfill: transport duplicates
        other = topics.model_copy(update={"runner_id": "laptop-2"})
        await publish(other, request)  # the same file from another runner: semantic duplicates
        rows = await wait_for_query(
            topics,
            "SELECT sum(input_tokens), sum(output_tokens), sum(cache_write_5m_tokens),"
            " sum(cache_write_1h_tokens),"
            " sum(cache_read_tokens), sum(cost_usd), any_value(cost_source) FROM usage",
            until=lambda r: r[0][5] is not None and r[0][5] >= Decimal("10.58909675"),
            wait_s=120,
        )
        totals = await read_topic(
            topics,
            topics.topic("totals"),
            until=lambda r: any(
                m.key == SESSION.encode()
                and orjson.loads(m.value)["subtree"]["cost_usd"] == "10.589096750000"
                for m in r
            ),
        )
    assert rows == [(2016, 64185, 622125, 0, 10172221, Decimal("10.589096750000"), "computed")]
    latest = max(
        (orjson.loads(m.value) for m in totals if m.key == SESSION.encode()), key=lambda t: t["version"]
    )
    assert latest["own"]["output_tokens"] == 64185 and latest["own"]["cache_read_tokens"] == 10172221
