"""Backfill on the real broker: many interleaved dates make one file per date per flush, and a
crash between two date files of one flush loses and repeats nothing after a restart.

Usage events go straight to the usage topic (no Faust worker), 20 dates interleaved row by
row, with repeats. The sink runs in this process; its file writer dies (an exception it does
not retry, as a SIGKILL would stop it) in the middle of a flush.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

import sinks.kafka_sink
from config.settings import Settings
from schemas.usage import TokenCounts, UsageEvent
from sinks.catalog import query
from sinks.dataset import Dataset, group_by_day
from sinks.kafka_sink import usage_sink
from sinks.layout import day_of, list_files, resolve
from tests.integration.test_lake_exactly_once import lake_rows
from tests.integration.test_lake_repeats import (
    assert_lake_holds_first_copies,
    first_copies,
    produce,
    wait_caught_up,
    with_repeats,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
EVENTS = 400
DAYS = 20
ROOTS = 8


def backfill_event(n: int) -> UsageEvent:
    root = f"root{n % ROOTS}"
    return UsageEvent(
        event_id=f"bf-{n:04d}",
        source="claude-transcript",
        runner_id="interleaved-test",
        session_id=root,
        event_time=T0 + timedelta(days=n % DAYS, seconds=n),
        tokens=TokenCounts(input_tokens=n, output_tokens=2 * n),
        cost_usd=Decimal(n + 1) * Decimal("0.000001"),
        cost_source="reported",
        model="claude-sonnet-4-5",
    )


class Crash(Exception):
    """The sink's writer dying between two files (the sink retries OSError only)."""


async def test_a_crash_between_two_date_files_of_a_flush_then_a_restart_lands_every_row_once(
    topics: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = topics.model_copy(update={"sink_max_rows": 60, "sink_flush_seconds": 0.3})
    group = f"{settings.topic_prefix}-sink"
    events = [backfill_event(n) for n in range(EVENTS)]
    await produce(settings, with_repeats(events))

    real_write_batch = sinks.kafka_sink.write_batch
    flushes: list[int] = []

    def write_first_date_then_die(
        data_dir: Path, dataset: Dataset[Any], topic: str, partition: int, records: Any
    ) -> list[Path]:
        groups = group_by_day(records, lambda item: day_of(dataset.event_time(item)))
        if len(flushes) < 2 or len(groups) < 2:
            flushes.append(partition)
            return real_write_batch(data_dir, dataset, topic, partition, records)
        # The third flush of several dates: its first date's file lands, then the sink dies.
        real_write_batch(data_dir, dataset, topic, partition, groups[0][1])
        raise Crash(f"p{partition} after {groups[0][0]}, before {len(groups) - 1} more dates")

    monkeypatch.setattr(sinks.kafka_sink, "write_batch", write_first_date_then_die)
    sink = usage_sink(settings)
    with pytest.raises(Crash):
        await asyncio.wait_for(sink.run(), 120)
    monkeypatch.undo()
    before = await asyncio.to_thread(lake_rows, settings.data_dir)
    files_before = len(list_files(settings.data_dir, "usage"))
    assert 0 < before < EVENTS
    # The lake now ends beyond rows it lacks: its end is no resume point, the commit is.
    records, first = await first_copies(settings)
    _, landed = await asyncio.to_thread(
        query, settings.data_dir, "SELECT kafka_partition, kafka_offset, event_id FROM usage"
    )
    lake_end = {p: max(o for q, o, _ in landed if q == p) for p, _, _ in landed}
    assert any(o < lake_end.get(p, -1) for p, o, _ in first - set(landed))

    restarted = usage_sink(settings)
    task = asyncio.create_task(restarted.run())
    try:
        await wait_caught_up(settings, group)
    finally:
        restarted.stop()
        await asyncio.wait_for(task, 30)
    assert restarted.stats.rows_written == EVENTS - before

    assert len(first) == EVENTS and records == len(with_repeats(events))
    await assert_lake_holds_first_copies(settings, first)
    sums = "SELECT count(*), sum(cost_usd), sum(input_tokens), count(DISTINCT date) FROM usage"
    _, rows = await asyncio.to_thread(query, settings.data_dir, sums)
    # cost: 0.000001 * (1 + ... + 400); input: 0 + ... + 399
    assert rows == [(EVENTS, Decimal("0.080200000000"), 79_800, DAYS)]
    files = list_files(settings.data_dir, "usage")
    assert resolve(files).overlaps == [] and resolve(files).superseded == []
    # The restart added files beside the crashed run's, replaced none: one per date per flush,
    # where cutting at every date change gives one per run of one date (nearly one per row).
    assert len(files) == files_before + restarted.stats.files_written
    date_of = {e.event_id: day_of(e.event_time) for e in events}
    runs = len(list(groupby(sorted(first), key=lambda row: (row[0], date_of[row[2]]))))
    print("files:", len(files), "runs of one date:", runs)
    assert len(files) * 3 < runs
