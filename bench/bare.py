"""The same work without Faust: aiokafka consume -> orjson parse -> produce, one process.

Reads a raw topic from the start (packed records unpacked by ``ss-lines``), parses every
line with orjson and produces one small JSON record per line to an output topic, waiting
for every acknowledgement: the machine's ceiling for a Python consumer of these lines.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic

from bench.kafka_tools import make_fast_producer
from config.kafka import create_topics
from config.settings import Settings
from schemas import packing
from schemas.raw import MAX_PACKED_LINES


async def bare_loop(settings: Settings, source: str, target: str) -> tuple[int, float]:
    """Consume every record of ``source``; returns (lines handled, seconds first poll -> last ack)."""
    consumer = AIOKafkaConsumer(
        source, **_client(settings), group_id=f"bare-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=True, max_partition_fetch_bytes=8 << 20,
    )  # fmt: skip
    producer = make_fast_producer(settings)
    await create_topics(settings, [NewTopic(target, settings.partitions, settings.replication_factor)])
    await consumer.start()
    await producer.start()
    ends = await consumer.end_offsets([TopicPartition(source, p) for p in range(settings.partitions)])
    records = sum(ends.values())  # a fresh topic: offsets start at 0
    seen = lines = 0
    pending: list[asyncio.Future[Any]] = []
    started: float | None = None
    try:
        while seen < records:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for messages in batch.values():
                if started is None:
                    started = time.perf_counter()
                for m in messages:
                    seen += 1
                    values = packing.unpack(m.value, m.headers, max_items=MAX_PACKED_LINES)
                    for position, line in enumerate(values):
                        obj = orjson.loads(line)
                        out = orjson.dumps(
                            {"k": m.key, "p": position, "t": obj.get("type")}, default=bytes.hex
                        )
                        pending.append(await producer.send(target, out, key=m.key))
                        lines += 1
            if len(pending) > 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        assert started is not None
        return lines, time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()


def _client(settings: Settings) -> dict[str, Any]:
    from config.kafka import client_options

    return client_options(settings)
