"""A stage batch's records, appended to one Kafka record batch per topic partition.

``producer.send`` costs 10-20 µs a record in aiokafka and Faust (a future, a partitioner
call and an accumulator lookup each); appending to aiokafka's ``BatchBuilder`` costs about
1 µs, and a whole batch shares one future (measured in bench/RESULTS.md). The worker
sends thousands of records per stage batch (outputs and changelog records), so it builds
batches itself and hands each to the producer's accumulator with ``send_batch``.

The batches go to the accumulator of Faust's own producer, so Faust's ``producer.flush()``
before an offset commit waits for them too. A batch's records keep their order. (A producer
per stage for outputs was tried and measured no better: bench/RESULTS.md.) Keyed records
go to ``crc32(key) mod partitions``, the partition Faust's producer would pick
(streams/routing.py). A record too big for a batch goes on its own through ``send``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

from streams.routing import partition_for


class Batches:
    """Records to send, one open record batch per (topic, partition)."""

    def __init__(self, producer: Any, partitions: int) -> None:
        self._kafka = producer  # an aiokafka producer
        self._partitions = partitions
        self._open: dict[tuple[str, int], Any] = {}
        self._pending: list[Awaitable[Any]] = []

    async def add(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        *,
        partition: int | None = None,
        timestamp: float | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one record; ``timestamp`` in seconds (None: now); ``partition`` None: by key."""
        if partition is None:
            partition = partition_for(key, self._partitions)
        place = (topic, partition)
        timestamp_ms = int(timestamp * 1000) if timestamp else None
        record_headers = list(headers) if headers else []
        batch = self._open.get(place)
        if batch is None:
            batch = self._open[place] = self._kafka.create_batch()
        if batch.append(timestamp=timestamp_ms, key=key, value=value, headers=record_headers) is not None:
            return
        if batch.record_count():  # full: send it and start the next
            self._pending.append(await self._kafka.send_batch(batch, topic, partition=partition))
            batch = self._open[place] = self._kafka.create_batch()
            if batch.append(timestamp=timestamp_ms, key=key, value=value, headers=record_headers) is not None:
                return
        del self._open[place]  # larger than a batch: on its own, after what came before
        future = await self._kafka.send(
            topic, value, key=key, partition=partition, timestamp_ms=timestamp_ms, headers=record_headers
        )
        self._pending.append(future)

    async def submit(self) -> list[Awaitable[Any]]:
        """Hand every open batch to the producer; returns the futures of all records queued."""
        for (topic, partition), batch in self._open.items():
            if batch.record_count():
                self._pending.append(await self._kafka.send_batch(batch, topic, partition=partition))
        self._open.clear()
        pending, self._pending = self._pending, []
        return pending
