"""The reference budget consumer: follow the ``totals`` topic (and, for an hourly limit, the
``windows`` topic) and trip when a scope's subtree cost exceeds a limit.

Reads the compacted topics from the beginning (so the current values are known at once),
then follows them; updates with a version not above the last one seen are stale and ignored.

The hourly limit is on the event-time window of 3600 s that holds the wall-clock time at
the moment a record arrives: the hour a live tree spends in now. Replayed history of
earlier hours never trips it, and a new hour starts from zero.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from aiokafka import AIOKafkaConsumer

from config.kafka import TOTALS, WINDOWS, client_options
from config.settings import Settings
from schemas.rollup import ScopeTotals, WindowTotals, window_start

HOUR_SECONDS = 3600


@dataclass(frozen=True)
class BudgetVerdict:
    exceeded: bool
    record: ScopeTotals | None
    # The current hour's window, when --max-usd-per-hour is what was exceeded (or was followed).
    hour: WindowTotals | None = None


def hour_exceeded(record: WindowTotals, max_usd_per_hour: Decimal, now: datetime) -> bool:
    """Whether ``record`` is the hourly window holding ``now`` and its subtree cost is over the limit."""
    return (
        record.size_seconds == HOUR_SECONDS
        and record.start == window_start(now, HOUR_SECONDS)
        and record.subtree.cost_usd > max_usd_per_hour
    )


async def watch_budget(
    settings: Settings,
    scope: str,
    max_usd: Decimal | None,
    follow_seconds: float | None,
    max_usd_per_hour: Decimal | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BudgetVerdict:
    """Return as soon as the scope's subtree cost exceeds ``max_usd``, or the current hour's
    exceeds ``max_usd_per_hour``, or when time runs out."""
    totals_topic, windows_topic = settings.topic(TOTALS), settings.topic(WINDOWS)
    topics = [totals_topic] + ([windows_topic] if max_usd_per_hour is not None else [])
    consumer = AIOKafkaConsumer(
        *topics,
        **client_options(settings),
        group_id=None,
        client_id=f"spendstream-budget-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    wanted = scope.encode("utf-8")
    hour_prefix = f"{scope}|{HOUR_SECONDS}|".encode()
    latest: ScopeTotals | None = None
    hours: dict[bytes, WindowTotals] = {}
    try:
        await consumer.start()  # inside: a refused start (password, ACL) still closes the consumer
        loop = asyncio.get_running_loop()
        deadline = None if follow_seconds is None else loop.time() + follow_seconds
        while deadline is None or loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, messages in batch.items():
                for message in messages:
                    if message.value is None or message.key is None:
                        continue
                    if tp.topic == totals_topic and message.key == wanted:
                        record = ScopeTotals.from_json_dict(orjson.loads(message.value))
                        if latest is not None and record.version <= latest.version:
                            continue
                        latest = record
                        if max_usd is not None and record.subtree.cost_usd > max_usd:
                            return BudgetVerdict(True, record)
                    elif tp.topic == windows_topic and message.key.startswith(hour_prefix):
                        window = WindowTotals.from_json_dict(orjson.loads(message.value))
                        seen = hours.get(message.key)
                        if seen is not None and window.version <= seen.version:
                            continue
                        hours[message.key] = window
                        limit = max_usd_per_hour
                        if limit is not None and hour_exceeded(window, limit, clock()):
                            return BudgetVerdict(True, latest, window)
    finally:
        await consumer.stop()
    current = window_start(clock(), HOUR_SECONDS)
    hour = next((w for w in hours.values() if w.start == current), None)
    return BudgetVerdict(False, latest, hour)
