"""Rebalances on the real broker: partitions move between two sinks of one group mid-stream,
and the lake still holds the first copy of every event once.

A second member joins while the first has buffered rows and loaded ids, then leaves again.
Each move runs ``on_revoked`` (the last flush written and committed, the partition forgotten)
and ``on_assigned`` (seek to the commit, a fresh index read from the lake), and aiokafka may
hand out records fetched before the seek, which the sink must drop as stale.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from config.settings import Settings
from sinks.kafka_sink import LakeSink, usage_sink
from tests.integration.test_lake_exactly_once import lake_rows, wait_for
from tests.integration.test_lake_repeats import (
    EVENTS,
    assert_lake_holds_first_copies,
    first_copies,
    produce,
    usage_event,
    wait_caught_up,
    with_repeats,
)

pytestmark = pytest.mark.integration


async def stopped(sink: LakeSink[object], task: asyncio.Task[None]) -> None:
    sink.stop()
    await asyncio.wait_for(task, 30)


async def test_partitions_moving_between_two_members_land_every_event_once(
    topics: Settings, tmp_path: Path
) -> None:
    settings = topics.model_copy(update={"sink_max_rows": 9, "sink_flush_seconds": 0.3})
    group = f"{settings.topic_prefix}-sink"
    events = [usage_event(n) for n in range(EVENTS)]
    await produce(settings, with_repeats(events[:120]))

    first = usage_sink(settings)
    first_task = asyncio.create_task(first.run())
    second = usage_sink(settings)
    second_task: asyncio.Task[None] | None = None
    try:
        await wait_for(lambda: lake_rows(settings.data_dir) >= 30, limit=60, what="30 rows")
        second_task = asyncio.create_task(second.run())  # the group rebalances: 2 partitions each
        # A trickle while the group rebalances (it takes seconds): the first member's buffers
        # hold rows when they are revoked, and the second takes over mid-stream.
        for at in range(120, 220, 5):
            await produce(settings, with_repeats(events[at : at + 5]))
            await asyncio.sleep(0.5)
        await produce(settings, events[:40:3])
        await wait_for(lambda: second.stats.rows_written > 0, limit=60, what="rows by the second member")
        await stopped(second, second_task)  # it leaves: its partitions go back to the first
        await produce(settings, with_repeats(events[220:]) + events[100:240:7])
        await wait_caught_up(settings, group)
    finally:
        if second_task is not None and not second_task.done():
            await stopped(second, second_task)
        await stopped(first, first_task)

    records, copies = await first_copies(settings)
    assert len(copies) == EVENTS
    await assert_lake_holds_first_copies(settings, copies)
    written = first.stats.rows_written + second.stats.rows_written
    repeated = first.stats.repeated_records + second.stats.repeated_records
    assert written == EVENTS
    # Every record was read at least once; a revoke commits what it wrote, so what is read
    # again after a move is what the stopped member had not fetched, or stale (dropped).
    assert written + repeated >= records
    print("first:", first.stats, "second:", second.stats)
