"""``compact`` while the worker writes, and a restarted sink resuming after merged files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from config.settings import Settings
from sinks.catalog import audit, query
from sinks.compact import compact
from sinks.layout import list_files, resolve
from tests.integration.harness import running_worker
from tests.integration.test_lake_exactly_once import (
    assert_session_report_exact,
    build_fleet,
    committed_records,
    free_port,
    lake_rows,
    publish_runs,
    report_json,
    settled,
    wait_for,
)

pytestmark = pytest.mark.integration


async def compact_repeatedly(data_dir: Path, stop: asyncio.Event) -> int:
    merges = 0
    while not stop.is_set():
        merges += len((await asyncio.to_thread(compact, data_dir, max_rows=120)).merges)
        await asyncio.sleep(0.05)
    return merges


async def test_compaction_during_ingest_and_across_a_restart(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(
        update={"sink_max_rows": 5, "sink_flush_seconds": 0.05, "web_port": free_port()}
    )
    fleet = build_fleet(seed=21, roots=3, children=2, runs_per_scope=12, bad_every=1000)
    first, second = fleet.runs[: len(fleet.runs) // 2], fleet.runs[len(fleet.runs) // 2 :]
    first_events = sum(fleet.expected[r.scope].events for r in first)
    stop = asyncio.Event()
    async with running_worker(settings):
        compactor = asyncio.create_task(compact_repeatedly(settings.data_dir, stop))
        await publish_runs(settings, first, tmp_path / "runs")
        await wait_for(lambda: lake_rows(settings.data_dir) >= first_events, limit=120, what="first half")
        stop.set()
        merges = await compactor
    assert merges > 0
    assert await asyncio.to_thread(lake_rows, settings.data_dir) == first_events

    # A new worker (its sink resumes from the lake) while compaction keeps running.
    stop = asyncio.Event()
    async with running_worker(settings.model_copy(update={"web_port": free_port()})):
        compactor = asyncio.create_task(compact_repeatedly(settings.data_dir, stop))
        await publish_runs(settings, second, tmp_path / "runs")
        await wait_for(lambda: lake_rows(settings.data_dir) >= fleet.events, limit=120, what="all events")
        await settled(settings.data_dir, quiet=3)
        stop.set()
        await compactor
    await asyncio.to_thread(compact, settings.data_dir, max_rows=120)

    usage = await committed_records(settings, "usage")
    _, lake = await asyncio.to_thread(
        query, settings.data_dir, "SELECT kafka_partition, kafka_offset FROM usage ORDER BY 1, 2"
    )
    assert lake == [(p, o) for p, o, _ in usage]
    assert await asyncio.to_thread(audit, settings.data_dir) == {
        "rows": fleet.events,
        "duplicate_positions": 0,
        "duplicate_event_ids": 0,
    }
    resolution = resolve(list_files(settings.data_dir, "usage"))
    assert resolution.superseded == [] and resolution.overlaps == []
    assert_session_report_exact(await asyncio.to_thread(report_json, settings, settings.data_dir), fleet)
