"""Issue 13 item 5: ``budget SCOPE --max-usd-per-hour`` trips on the current hour's window
of the windows topic, not on earlier hours, and not on the scope's all-time total."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from schemas.rollup import WindowTotals
from spendstream.budget import watch_budget
from tests.integration.harness import has_events, read_topic, running_worker
from tests.integration.producers_harness import spendstream_async
from tests.integration.test_budget_rules import claude_result

pytestmark = pytest.mark.integration


async def clear_of_the_top_of_the_hour(margin: float = 90.0) -> None:
    """Wait until at least ``margin`` seconds remain in this hour: the test's runs and its
    wall-clock checks must fall in one hour."""
    now = time.time()
    left = 3600 - now % 3600
    if left < margin:
        await asyncio.sleep(left + 1)


async def test_the_hourly_limit_trips_on_the_current_hour_only(topics: Settings, tmp_path: Path) -> None:
    await clear_of_the_top_of_the_hour()
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    async with running_worker(topics):
        for session, cost in (("h1", "0.30"), ("h2", "0.25")):
            path = claude_result(tmp_path / f"{session}.json", session, cost)
            done = await spendstream_async(
                settings, "publish", "--lineage", "root-h", "--session", session, str(path)
            )
            assert done.returncode == 0, done.stderr.decode()
        await read_topic(topics, topics.topic("totals"), until=has_events({"h1": 1, "h2": 1}))
        hourly = b"root-h|3600|"
        records = await read_topic(
            topics,
            topics.topic("windows"),
            until=lambda r: any(
                m.key.startswith(hourly) and orjson.loads(m.value)["subtree"]["events"] == 2 for m in r
            ),
        )
    window = max(
        (WindowTotals.from_json_dict(orjson.loads(m.value)) for m in records if m.key.startswith(hourly)),
        key=lambda w: w.version,
    )
    assert window.subtree.cost_usd == Decimal("0.55")
    in_that_hour = window.start + timedelta(minutes=30)

    over = await watch_budget(topics, "root-h", None, 20, Decimal("0.50"), clock=lambda: in_that_hour)
    assert over.exceeded and over.hour is not None and over.hour.subtree.cost_usd == Decimal("0.55")
    under = await watch_budget(topics, "root-h", None, 3, Decimal("0.55"), clock=lambda: in_that_hour)
    assert not under.exceeded and under.hour is not None
    next_hour = in_that_hour + timedelta(hours=1)  # the same history, an hour later: a new hour, from zero
    later = await watch_budget(topics, "root-h", None, 3, Decimal("0.50"), clock=lambda: next_hour)
    assert not later.exceeded and later.hour is None

    # The command, on the wall clock: the runs were published seconds ago, in this hour (a run
    # of this test across the top of an hour would see a new hour, from zero, and fail here).
    proc = await spendstream_async(settings, "budget", "root-h", "--max-usd-per-hour", "0.50", "--for", "20")
    assert proc.returncode == 3, proc.stderr.decode()
    assert "$0.550000000000 > $0.50 per hour" in proc.stderr.decode()
    within = await spendstream_async(
        settings, "budget", "root-h", "--max-usd", "1", "--max-usd-per-hour", "0.60", "--for", "3"
    )
    assert within.returncode == 0, within.stderr.decode()
    assert "cost this hour $0.550000000000 <= $0.60 per hour" in within.stdout.decode()
