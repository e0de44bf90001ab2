"""The reference budget consumer: follow the ``totals`` topic and trip when a scope's
subtree cost exceeds a limit.

Reads the compacted topic from the beginning (so the current value is known at once),
then follows it; updates with a version not above the last one seen are stale and ignored.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal

import orjson
from aiokafka import AIOKafkaConsumer

from config.kafka import TOTALS, client_options
from config.settings import Settings
from schemas.rollup import ScopeTotals


@dataclass(frozen=True)
class BudgetVerdict:
    exceeded: bool
    record: ScopeTotals | None


async def watch_budget(
    settings: Settings, scope: str, max_usd: Decimal, follow_seconds: float | None
) -> BudgetVerdict:
    """Return as soon as the scope's subtree cost exceeds ``max_usd``, or when time runs out."""
    consumer = AIOKafkaConsumer(
        settings.topic(TOTALS),
        **client_options(settings),
        group_id=None,
        client_id=f"spendstream-budget-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    wanted = scope.encode("utf-8")
    latest: ScopeTotals | None = None
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = None if follow_seconds is None else loop.time() + follow_seconds
        while deadline is None or loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for message in messages:
                    if message.key != wanted or message.value is None:
                        continue
                    record = ScopeTotals.from_json_dict(orjson.loads(message.value))
                    if latest is not None and record.version <= latest.version:
                        continue
                    latest = record
                    if record.subtree.cost_usd > max_usd:
                        return BudgetVerdict(True, record)
    finally:
        await consumer.stop()
    return BudgetVerdict(False, latest)
