"""The usage topic repeats events (at-least-once upstream); the lake holds each event id once.

Usage events are produced straight to the usage topic (no Faust worker): every repeat is the
same bytes at a later offset, some right after the first copy, some a SIGKILL, a restart, many
rotations and a compaction later. The lake must keep exactly the first copy of each event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from config.kafka import USAGE, client_options
from config.settings import Settings
from schemas.usage import TokenCounts, UsageEvent
from sinks.catalog import audit, query
from sinks.compact import compact
from sinks.kafka_sink import usage_sink
from tests.integration.sink_process import SinkProcess
from tests.integration.test_lake_exactly_once import committed_records, lake_rows, wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 30, 22, 30, tzinfo=UTC)  # events run past midnight: two date folders
EVENTS = 300
ROOTS = 6


def usage_event(n: int) -> UsageEvent:
    root = f"root{n % ROOTS}"
    child = n % 4 == 1
    return UsageEvent(
        event_id=f"ev-{n:04d}",
        source="claude-json",
        runner_id="repeats-test",
        session_id=f"{root}.child" if child else root,
        lineage=(root,) if child else (),
        event_time=T0 + timedelta(seconds=37 * n),
        tokens=TokenCounts(input_tokens=1000 + n, output_tokens=10 * n, cache_read_tokens=n * n),
        cost_usd=Decimal(n + 1) * Decimal("0.000137"),
        cost_source="reported",
        model="claude-sonnet-4-5",
    )


async def produce(settings: Settings, events: Sequence[UsageEvent]) -> None:
    """Each event's JSON keyed by its root scope, like the worker's normalize stage."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            await producer.send(settings.topic(USAGE), event.to_json(), key=event.root_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


def with_repeats(events: Sequence[UsageEvent]) -> list[UsageEvent]:
    """Every third event again right after itself, every fifth again 20 events later."""
    out: list[UsageEvent] = []
    later: dict[int, list[UsageEvent]] = {}
    for index, event in enumerate(events):
        out.append(event)
        out.extend(later.pop(index, []))
        if index % 3 == 0:
            out.append(event)
        if index % 5 == 0:
            later.setdefault(index + 20, []).append(event)
    out.extend(e for _, group in sorted(later.items()) for e in group)
    return out


async def caught_up(settings: Settings, group: str) -> bool:
    """Whether the group has committed the end of every usage partition."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=group, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        topic = settings.topic(USAGE)
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            if (await consumer.committed(tp) or 0) < ends[tp]:
                return False
        return True
    finally:
        await consumer.stop()


async def wait_caught_up(settings: Settings, group: str, limit: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await caught_up(settings, group):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"group {group} did not commit the end of the usage topic in {limit}s")
        await asyncio.sleep(0.3)


async def first_copies(settings: Settings) -> tuple[int, set[tuple[int, int, str]]]:
    """How many usage records the topic holds, and the position of each event id's first copy."""
    records = await committed_records(settings, USAGE)
    first: dict[str, tuple[int, int]] = {}
    for partition, offset, value in records:
        event_id = orjson.loads(value)["event_id"]
        first[event_id] = min(first.get(event_id, (partition, offset)), (partition, offset))
    return len(records), {(p, o, e) for e, (p, o) in first.items()}


async def assert_lake_holds_first_copies(settings: Settings, first: set[tuple[int, int, str]]) -> None:
    """The lake holds exactly ``first`` (partition, offset, event id): one row per event."""
    _, lake = await asyncio.to_thread(
        query, settings.data_dir, "SELECT kafka_partition, kafka_offset, event_id FROM usage"
    )
    assert sorted(lake) == sorted(first)
    assert await asyncio.to_thread(audit, settings.data_dir) == {
        "rows": len(first),
        "duplicate_positions": 0,
        "duplicate_event_ids": 0,
    }


async def test_repeats_land_once_across_kill_restart_rotation_and_compaction(
    topics: Settings, tmp_path: Path
) -> None:
    settings = topics.model_copy(
        update={"sink_max_rows": 5, "sink_flush_seconds": 0.05, "sink_max_span_seconds": 600.0}
    )
    group = f"{settings.topic_prefix}-sink"
    events = [usage_event(n) for n in range(EVENTS)]
    log = tmp_path / "sink.log"

    # Wave 1, then a SIGKILL while files are being written.
    await produce(settings, with_repeats(events[:150]))
    sink = SinkProcess(settings, log)
    await wait_for(lambda: not sink.alive() or lake_rows(settings.data_dir) >= 40, limit=60, what="40 rows")
    assert sink.alive(), log.read_text()[-3000:]
    sink.kill()
    killed_at = lake_rows(settings.data_dir)
    assert 40 <= killed_at < 150

    # Wave 2: old events again (the same bytes), then new ones with their own repeats; restart,
    # and compact while the sink writes.
    await produce(settings, [e for e in events[:150] if e.event_id[-1] in "05"])
    await produce(settings, with_repeats(events[150:]))
    sink = SinkProcess(settings, log)
    await wait_for(lambda: not sink.alive() or lake_rows(settings.data_dir) >= 200, limit=60, what="200 rows")
    await asyncio.to_thread(compact, settings.data_dir)
    await wait_caught_up(settings, group)
    second = sink.stop()
    assert second["rows_written"] == EVENTS - killed_at
    assert second["repeated_records"] > 0

    # Wave 3, long after: repeats of compacted, older-date events after another restart.
    await asyncio.to_thread(compact, settings.data_dir)
    late = events[::10]
    await produce(settings, late)
    sink = SinkProcess(settings, log)
    await wait_caught_up(settings, group)
    third = sink.stop()
    assert (third["rows_written"], third["repeated_records"]) == (0, len(late))

    # The lake holds exactly the first copy of every event.
    records, first = await first_copies(settings)
    assert len(first) == EVENTS and records > EVENTS + 100
    await assert_lake_holds_first_copies(settings, first)
    sums = """SELECT count(*), sum(cost_usd), sum(input_tokens), sum(output_tokens),
                     sum(cache_read_tokens), count(DISTINCT date) FROM usage"""
    _, rows = await asyncio.to_thread(query, settings.data_dir, sums)
    # cost: 0.000137 * (1 + ... + 300); input: 300 * 1000 + (0 + ... + 299); cache read: sum of n^2
    assert rows == [(EVENTS, Decimal("6.185550000000"), 344_850, 448_500, 8_955_050, 2)]
    _, roots = await asyncio.to_thread(
        query, settings.data_dir, "SELECT root_id, sum(cost_usd), count(*) FROM usage GROUP BY 1 ORDER BY 1"
    )
    expected = {f"root{r}": (Decimal(0), 0) for r in range(ROOTS)}
    for e in events:
        cost, count = expected[e.root_id]
        expected[e.root_id] = (cost + e.cost_usd, count + 1)
    assert roots == [(root, cost, count) for root, (cost, count) in sorted(expected.items())]

    # A replay of the whole topic into a fresh lake keeps the same first copies, row for row.
    fresh = tmp_path / "replayed"
    replay = usage_sink(settings, group_id=f"{settings.topic_prefix}-replay", data_dir=fresh)
    task = asyncio.create_task(replay.run())
    try:
        await wait_caught_up(settings, f"{settings.topic_prefix}-replay")
    finally:
        replay.stop()
        await asyncio.wait_for(task, 30)
    assert replay.stats.rows_written == EVENTS
    assert replay.stats.repeated_records == records - EVENTS
    every_column = "SELECT * EXCLUDE (date) FROM usage ORDER BY kafka_partition, kafka_offset"
    assert (await asyncio.to_thread(query, fresh, every_column))[1] == (
        await asyncio.to_thread(query, settings.data_dir, every_column)
    )[1]
