"""Issue 2: one real line travels runner -> Kafka -> Faust -> Parquet -> DuckDB."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from producers.publish import PublishRequest, publish
from schemas.deadletter import H_LINE, H_REASON
from schemas.packing import H_COUNT
from tests.integration.harness import read_topic, running_worker, wait_for_query

pytestmark = pytest.mark.integration

SESSION = "145cc619-8afc-49bd-8c24-81ce5bebe88d"


async def test_real_result_line_lands_in_duckdb_exactly(topics: Settings, real_fixtures: Path) -> None:
    fixture = real_fixtures / "claude-json" / "result-success.json"
    async with running_worker(topics):
        summary = await publish(topics, PublishRequest(paths=(str(fixture),), source="claude-json"))
        assert summary.lines == 1
        rows = await wait_for_query(
            topics,
            "SELECT session_id, count(*), sum(input_tokens), sum(output_tokens), "
            "sum(cache_write_5m_tokens + cache_write_1h_tokens), sum(cache_read_tokens), sum(cost_usd), "
            "any_value(cost_source) FROM usage GROUP BY session_id",
            until=lambda rows: len(rows) == 1,
        )
    assert rows == [(SESSION, 1, 4, 18, 3548, 11459, Decimal("0.085625900000"), "reported")]


async def test_bad_line_goes_to_dead_letter_with_original_bytes(topics: Settings, tmp_path: Path) -> None:
    bad = b'{"type":"result","session_id":"s-bad","usage":{"input_tokens":'
    source = tmp_path / "bad.jsonl"
    source.write_bytes(bad + b"\n")
    async with running_worker(topics):
        # keep_content: by default a line that is not JSON is published as a marker, not as is.
        request = PublishRequest(paths=(str(source),), source="claude-json", keep_content=True)
        await publish(topics, request)
        dead = await read_topic(topics, topics.topic("deadletter"), until=lambda r: len(r) >= 1)
    assert len(dead) == 1
    assert dead[0].value == bad
    headers = dict(dead[0].headers)
    assert headers[H_REASON].startswith(b"not valid JSON")
    assert headers["ss-pos"] == b"1"
    # The reason never quotes the line.
    assert b"s-bad" not in headers[H_REASON]


async def test_usage_event_carries_no_content(topics: Settings, real_fixtures: Path) -> None:
    fixture = real_fixtures / "claude-json" / "result-success.json"
    async with running_worker(topics):
        await publish(topics, PublishRequest(paths=(str(fixture),), source="claude-json"))
        usage = await read_topic(topics, topics.topic("usage"), until=lambda r: len(r) >= 1)
    event = orjson.loads(usage[0].value)
    assert "Because light attracts bugs" not in usage[0].value.decode()
    assert event["input_tokens"] == 4
    assert event["cost_usd"] == "0.085625900000"


async def test_malformed_internal_records_are_dead_lettered_one_envelope_each_and_stages_go_on(
    topics: Settings, real_fixtures: Path
) -> None:
    """Packed observations and deltas records with bad envelopes: each bad envelope is one
    dead letter (its bytes, its index in ``ss-dlq-line``), a bad pack is one, and the
    stages behind them still count a real line exactly."""
    from producers.publish import make_producer

    bad_origin, bad_event = b'{"schema_version": 1}', b'3:7 {"schema_version": 1}'
    producer = make_producer(topics)
    await producer.start()
    try:
        count = [(H_COUNT, b"2")]
        await producer.send_and_wait(topics.topic("observations"), b"not\n{}", key=b"x", headers=count)
        await producer.send_and_wait(
            topics.topic("deltas"), bad_origin + b"\n" + bad_event, key=b"x", headers=count
        )
        await producer.send_and_wait(topics.topic("deltas"), b"one", key=b"x", headers=[(H_COUNT, b"2")])
    finally:
        await producer.stop()
    fixture = real_fixtures / "claude-json" / "result-success.json"
    async with running_worker(topics) as app:
        dead = await read_topic(topics, topics.topic("deadletter"), until=lambda r: len(r) >= 5)
        await publish(topics, PublishRequest(paths=(str(fixture),), source="claude-json"))
        totals = await read_topic(topics, topics.topic("totals"), until=lambda r: len(r) >= 1)
        metrics = app.spendstream_metrics.to_json_dict()  # type: ignore[attr-defined]
    letters = sorted(
        (dict(d.headers)[H_REASON].decode().split(":")[0], dict(d.headers).get(H_LINE), d.value) for d in dead
    )
    assert letters == [
        ("deltas record", None, b"one"),
        ("observation", b"0", b"not"),
        ("observation", b"1", b"{}"),
        ("usage delta", b"0", bad_origin),
        ("usage delta", b"1", bad_event),
    ]
    assert metrics["stage_dead_letters"] == {"ledger": 2, "rollup": 3}
    assert metrics["usage_events"] == 1
    assert orjson.loads(totals[0].value)["subtree"]["cost_usd"] == "0.085625900000"
