"""Record batches (streams/sender.py) on the real broker: every record lands once, in order,
in the partition of its key, including a record too big for a batch."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from config.kafka import client_options
from config.settings import Settings
from streams.routing import partition_for
from streams.sender import Batches
from tests.integration.harness import read_topic

pytestmark = pytest.mark.integration


async def test_batches_deliver_every_record_in_order_by_key(topics: Settings) -> None:
    producer = AIOKafkaProducer(**client_options(topics), acks="all", max_batch_size=256 * 1024)
    await producer.start()
    topic = topics.topic("usage")
    sent: list[tuple[bytes, bytes]] = []
    try:
        records = Batches(producer, topics.partitions)
        for n in range(3000):
            key, value = f"k{n % 5}".encode(), f"v{n}".encode() * (1 + n % 7)
            if n == 1500:
                value = b"x" * (400 * 1024)  # larger than the producer's 256 KiB batch
            await records.add(topic, key, value, timestamp=1_700_000_000.5, headers=[("h", b"1")])
            sent.append((key, value))
        await asyncio.gather(*await records.submit())
    finally:
        await producer.stop()
    got = await read_topic(topics, topic, until=lambda r: len(r) >= len(sent), wait_s=60)
    assert len(got) == len(sent)
    for key in {k for k, _ in sent}:
        mine = [m for m in got if m.key == key]
        assert {m.partition for m in mine} == {partition_for(key, topics.partitions)}
        assert [m.value for m in sorted(mine, key=lambda m: m.offset)] == [v for k, v in sent if k == key]
    assert {m.timestamp for m in got} == {1_700_000_000_500}
    assert all(list(m.headers) == [("h", b"1")] for m in got)
