"""Issue 4: event-time windows stay correct when old history is replayed.

Faust's own windowed tables expire on wall-clock time, so replaying last year's history
would create and drop windows at once. spendstream keeps windows itself, keyed by event
time and judged by the partition's event-time watermark.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from config.settings import Settings
from producers.publish import make_producer
from schemas.raw import encode_record
from schemas.rollup import ScopeTotals, WindowTotals
from schemas.sources import LineContext
from tests.integration.harness import read_topic, running_worker

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)
ROOT, CHILD = "hist-root", "hist-root/agent-x"


def line(session: str, n: int, cost: str) -> bytes:
    return orjson.dumps(
        {
            "type": "result",
            "session_id": session,
            "uuid": f"{session}-{n}",
            "total_cost_usd": float(cost),
            "usage": {"input_tokens": 10 * (n + 1), "output_tokens": n + 1},
        }
    )


# (seconds after T0, scope, cost)
HISTORY = [
    (5, ROOT, "0.10"),
    (40, CHILD, "0.20"),
    (70, CHILD, "0.40"),
    (3599, ROOT, "0.80"),
    (3601, CHILD, "1.60"),
    (4000, ROOT, "3.20"),
    (30, ROOT, "6.40"),  # 66 minutes late: past the 5-minute grace of its windows
]


hour, minute = 3600, 60
d = Decimal
_EXPECTED = {
    (ROOT, minute, T0): (d("0.10"), d("0.30")),
    (CHILD, minute, T0): (d("0.20"), d("0.20")),
    (ROOT, minute, T0 + timedelta(minutes=1)): (d(0), d("0.40")),
    (CHILD, minute, T0 + timedelta(minutes=1)): (d("0.40"), d("0.40")),
    (ROOT, minute, T0 + timedelta(minutes=59)): (d("0.80"), d("0.80")),
    (ROOT, minute, T0 + timedelta(minutes=60)): (d(0), d("1.60")),
    (CHILD, minute, T0 + timedelta(minutes=60)): (d("1.60"), d("1.60")),
    (ROOT, minute, T0 + timedelta(minutes=66)): (d("3.20"), d("3.20")),
    (ROOT, hour, T0): (d("0.90"), d("1.50")),
    (CHILD, hour, T0): (d("0.60"), d("0.60")),
    (ROOT, hour, T0 + timedelta(hours=1)): (d("3.20"), d("4.80")),
    (CHILD, hour, T0 + timedelta(hours=1)): (d("1.60"), d("1.60")),
}
EXPECTED = {k: (own.quantize(d("1e-12")), sub.quantize(d("1e-12"))) for k, (own, sub) in _EXPECTED.items()}


def _window_costs(records: list[Any]) -> dict[tuple[str, int, datetime], tuple[Decimal, Decimal]]:
    """(own, subtree) cost of each window's highest version."""
    latest: dict[tuple[str, int, datetime], WindowTotals] = {}
    for message in records:
        record = WindowTotals.from_json_dict(orjson.loads(message.value))
        key = (record.scope, record.size_seconds, record.start)
        if key not in latest or record.version > latest[key].version:
            latest[key] = record
    return {k: (v.own.cost_usd, v.subtree.cost_usd) for k, v in latest.items()}


async def test_replayed_history_builds_event_time_windows(topics: Settings) -> None:
    producer = make_producer(topics)
    await producer.start()
    try:
        for n, (offset_s, scope, cost) in enumerate(HISTORY):
            context = LineContext(
                source="claude-json",
                runner_id="historian",
                stream_id="historian:replay",
                position=n + 1,
                published_at=T0 + timedelta(seconds=offset_s),
                lineage=(ROOT,) if scope == CHILD else (),
            )
            key, value, headers = encode_record(context, [line(scope, n, cost)])
            await producer.send(topics.topic("raw"), value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()

    async with running_worker(topics):
        totals = await read_topic(
            topics, topics.topic("totals"), until=lambda r: any(_root_events(r) == len(HISTORY) for _ in [0])
        )
        # 2 sizes x (1 scope for root events, 2 for child events), less the late event:
        # 12 windows (the rollup sends each window once per batch that changes it).
        windows = await read_topic(
            topics, topics.topic("windows"), until=lambda r: _window_costs(r) == EXPECTED
        )
        await asyncio.sleep(3)  # wall-clock time passes: nothing may expire or change
        later = await read_topic(topics, topics.topic("windows"), until=lambda r: len(r) >= len(windows))

    got = _window_costs(windows)
    assert got == EXPECTED
    # The late event is in the totals, not in any window.
    root = _latest_root(totals)
    assert root.subtree.cost_usd == d("12.70")
    assert root.own.cost_usd == d("10.50")
    assert len(later) == len(windows)
    assert _window_costs(later) == EXPECTED


def _root_events(records: list[object]) -> int:
    try:
        return _latest_root(records).subtree.events
    except LookupError:
        return 0


def _latest_root(records: list[object]) -> ScopeTotals:
    versions = [
        ScopeTotals.from_json_dict(orjson.loads(m.value))  # type: ignore[attr-defined]
        for m in records
        if m.key == ROOT.encode()  # type: ignore[attr-defined]
    ]
    if not versions:
        raise LookupError(ROOT)
    return max(versions, key=lambda r: r.version)
