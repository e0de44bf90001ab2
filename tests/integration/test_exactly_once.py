"""Issue 4: exact totals on the real broker, with duplicates, bad lines and a killed worker."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.rollup import ScopeTotals
from spendstream.settings import Settings
from tests.integration.harness import (
    WorkerProcess,
    read_topic,
    running_worker,
    wait_for_query,
    wait_until_shared,
)
from tests.integration.workload import (
    TOKENS,
    Workload,
    build_workload,
    expected_totals_view,
    publish_workload,
)

pytestmark = pytest.mark.integration


def totals_view(record: ScopeTotals) -> tuple[object, ...]:
    sub, own = record.subtree, record.own
    return (
        sub.cost_usd,
        *(getattr(sub.tokens, t) for t in TOKENS),
        own.cost_usd,
        own.events,
        record.children,
    )


def latest_by_scope(records: list[Any]) -> dict[str, ScopeTotals]:
    latest: dict[str, ScopeTotals] = {}
    for message in records:
        record = ScopeTotals.from_json_dict(orjson.loads(message.value))
        current = latest.get(record.scope)
        if current is None or record.version > current.version:
            latest[record.scope] = record
    return latest


async def converged_totals(
    settings: Settings, workload: Workload, wait_s: float = 120.0
) -> dict[str, ScopeTotals]:
    expected = expected_totals_view(workload)

    def done(records: list[Any]) -> bool:
        latest = latest_by_scope(records)
        return all(s in latest and totals_view(latest[s]) == v for s, v in expected.items())

    try:
        records = await read_topic(settings, settings.topic("totals"), until=done, wait_s=wait_s)
    except TimeoutError:
        records = await read_topic(settings, settings.topic("totals"), until=lambda r: True, wait_s=5)
        latest = latest_by_scope(records)
        diffs = {s: (totals_view(latest[s]) if s in latest else None, v) for s, v in expected.items()}
        wrong = {s: d for s, d in diffs.items() if d[0] != d[1]}
        raise AssertionError(f"totals did not converge; (got, expected) per scope: {wrong}") from None
    return latest_by_scope(records)


async def lake_matches(settings: Settings, workload: Workload) -> None:
    expected = {s: (e.own_cost, e.own_events) for s, e in workload.expected.items()}
    rows = await wait_for_query(
        settings,
        "SELECT session_id, sum(cost_usd), count(*) FROM usage GROUP BY 1",
        until=lambda rows: {r[0]: (r[1], r[2]) for r in rows} == expected,
        wait_s=60,
    )
    assert len(rows) == len(expected)
    _, dupes = await asyncio.to_thread(
        __import__("sinks.catalog", fromlist=["run_query"]).run_query,
        settings.data_dir,
        "SELECT event_id, count(*) FROM usage GROUP BY 1 HAVING count(*) > 1",
    )
    assert dupes == []


async def test_rollup_of_three_level_trees_is_exact(topics: Settings, tmp_path: Path) -> None:
    workload = build_workload(seed=7)
    async with running_worker(topics):
        await publish_workload(topics, workload, tmp_path / "in")
        latest = await converged_totals(topics, workload)
        await lake_matches(topics, workload)
    root = latest["root-7-0"]
    # A root's subtree holds itself, 2 children and 4 grandchildren: 7 scopes x 3 runs.
    assert root.subtree.events == 21
    assert root.children == 2
    assert latest["root-7-0.c0"].parent_id == "root-7-0"
    assert latest["root-7-0.c0.g1"].root_id == "root-7-0"


async def test_sigkill_mid_stream_still_exact(topics: Settings, tmp_path: Path) -> None:
    workload = build_workload(seed=11, roots=4, runs=5)
    worker = WorkerProcess(topics, tmp_path / "worker.log")
    rng = random.Random()
    worker.start()
    try:
        publishing = asyncio.ensure_future(publish_workload(topics, workload, tmp_path / "in"))
        for _ in range(2):
            await asyncio.sleep(rng.uniform(2.0, 6.0))
            worker.kill()
            worker.start()
        await publishing
        await asyncio.sleep(1)
        assert worker.alive(), (tmp_path / "worker.log").read_text()[-3000:]
        latest = await converged_totals(topics, workload, wait_s=180)
        await lake_matches(topics, workload)
    finally:
        worker.terminate()
    assert sum((r.own.cost_usd for r in latest.values()), Decimal(0)) == workload.total_cost


async def test_two_workers_one_stopped_mid_stream_still_exact(topics: Settings, tmp_path: Path) -> None:
    workload = build_workload(seed=13, roots=6, runs=4)
    first = WorkerProcess(topics, tmp_path / "worker-1.log")
    second_settings = topics.model_copy(update={"web_port": topics.web_port + 1000})
    second = WorkerProcess(second_settings, tmp_path / "worker-2.log")
    first.start()
    second.start()
    try:
        await wait_until_shared([first, second], topics.partitions)
        publishing = asyncio.ensure_future(publish_workload(topics, workload, tmp_path / "in"))
        await asyncio.sleep(random.uniform(2.0, 5.0))
        second.kill()
        await publishing
        latest = await converged_totals(topics, workload, wait_s=60)
        await lake_matches(topics, workload)
        assert first.alive(), (tmp_path / "worker-1.log").read_text()[-3000:]
    finally:
        first.terminate()
        second.terminate()
    assert sum((r.own.cost_usd for r in latest.values()), Decimal(0)) == workload.total_cost
