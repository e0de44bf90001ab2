"""``spendstream reconcile`` on the real broker: a worker's lake agrees with its totals topic,
and a row added to the lake or a stray totals record is reported, figure by figure."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from config.kafka import TOTALS, USAGE, client_options
from config.settings import Settings
from schemas.rollup import ScopeTotals, Totals
from schemas.usage import TokenCounts, UsageEvent
from sinks.lake import write_usage_batch
from sinks.layout import list_files
from sinks.reconcile import reconcile
from tests.integration.harness import running_worker, settings_env
from tests.integration.test_lake_exactly_once import (
    Fleet,
    build_fleet,
    free_port,
    lake_rows,
    publish_runs,
    wait_for,
)

pytestmark = pytest.mark.integration


def root_expectation(fleet: Fleet, root: str) -> dict[str, Any]:
    scopes = [e for scope, e in fleet.expected.items() if scope == root or scope.startswith(root + ".")]
    return {
        "cost_usd": sum((e.cost for e in scopes), Decimal(0)),
        "input_tokens": sum(e.input_tokens for e in scopes),
        "events": sum(e.events for e in scopes),
    }


def run_reconcile(settings: Settings) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "spendstream.cli", "reconcile", "--json"],
        env=settings_env(settings),
        capture_output=True,
        timeout=60,
    )
    return done.returncode, done.stdout.decode()


async def publish_totals(settings: Settings, record: ScopeTotals) -> None:
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        value = orjson.dumps(record.to_json_dict())
        await producer.send_and_wait(settings.topic(TOTALS), value, key=record.scope.encode())
    finally:
        await producer.stop()


async def test_reconcile_agrees_with_a_worker_then_reports_a_changed_lake_and_a_stray_record(
    topics: Settings, tmp_path: Path
) -> None:
    settings = topics.model_copy(update={"sink_flush_seconds": 0.2, "web_port": free_port()})
    fleet = build_fleet(seed=21, roots=2, children=1, runs_per_scope=4, bad_every=99)
    roots = [f"lake-21-root{r}" for r in range(2)]
    async with running_worker(settings):
        await publish_runs(settings, fleet.runs, tmp_path / "runs")
        await wait_for(
            lambda: lake_rows(settings.data_dir) >= fleet.events, limit=120, what="lake", every=0.2
        )
        # The totals topic may trail the lake by a commit interval.
        deadline = asyncio.get_running_loop().time() + 60
        while not (result := await reconcile(settings)).agrees:
            assert asyncio.get_running_loop().time() < deadline, result
            await asyncio.sleep(0.5)
    assert result.roots == 2

    code, out = await asyncio.to_thread(run_reconcile, settings)
    assert (code, orjson.loads(out)) == (0, {"agrees": True, "roots": 2, "differences": [], "unreadable": []})

    # One extra row in the lake for the first root (as if a repeat had landed twice).
    extra = UsageEvent(
        event_id="extra-row",
        source="claude-json",
        runner_id="test",
        session_id=roots[0],
        event_time=datetime(2025, 1, 2, tzinfo=UTC),
        tokens=TokenCounts(input_tokens=123),
        cost_usd=Decimal("0.000001"),
        cost_source="reported",
    )
    # At an offset past every file of partition 0, so no file of the lake covers it.
    last = max((f.last for f in list_files(settings.data_dir, "usage") if f.partition == 0), default=-1)
    [extra_file] = write_usage_batch(settings.data_dir, settings.topic(USAGE), 0, [(last + 1, extra)])
    expected = root_expectation(fleet, roots[0])
    code, out = await asyncio.to_thread(run_reconcile, settings)
    assert code == 1
    assert orjson.loads(out)["differences"] == [
        {
            "root_id": roots[0],
            "field": "cost_usd",
            "totals": str(expected["cost_usd"]),
            "lake": str(expected["cost_usd"] + Decimal("0.000001")),
        },
        {
            "root_id": roots[0],
            "field": "input_tokens",
            "totals": expected["input_tokens"],
            "lake": expected["input_tokens"] + 123,
        },
        {
            "root_id": roots[0],
            "field": "events",
            "totals": expected["events"],
            "lake": expected["events"] + 1,
        },
    ]
    extra_file.unlink()

    # A stale version of a real root changes nothing; a stray root is reported in full.
    await publish_totals(settings, ScopeTotals(scope=roots[1], root_id=roots[1], parent_id=None, version=1))
    stray = Totals(TokenCounts(output_tokens=7), Decimal("2.5"), 1)
    await publish_totals(
        settings,
        ScopeTotals(scope="stray", root_id="stray", parent_id=None, subtree=stray, own=stray, version=3),
    )
    code, out = await asyncio.to_thread(run_reconcile, settings)
    report = orjson.loads(out)
    assert (code, report["roots"], report["unreadable"]) == (1, 3, [])
    assert {d["root_id"] for d in report["differences"]} == {"stray"}
    assert {d["field"]: (d["totals"], d["lake"]) for d in report["differences"]} == {
        "cost_usd": ("2.5", None),
        "input_tokens": (0, None),
        "output_tokens": (7, None),
        "reasoning_tokens": (0, None),
        "cache_read_tokens": (0, None),
        "cache_write_5m_tokens": (0, None),
        "cache_write_1h_tokens": (0, None),
        "web_search_requests": (0, None),
        "events": (1, None),
    }


async def test_reconcile_says_clearly_when_the_broker_is_unreachable(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"broker": f"127.0.0.1:{free_port()}"})
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "spendstream.cli", "reconcile", "--timeout", "10"],
        env=settings_env(unreachable),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"cannot reach the Kafka broker at {unreachable.broker}" in done.stderr.decode()
    assert done.stdout == b""
