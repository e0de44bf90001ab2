"""Topic -> Parquet lake consumers (run inside the worker process): usage and dead letters.

This module is the thin shell: subscribe, fetch, hand records to ``PartitionBuffers``
(``sinks/buffer.py``, which decides what is stale, bad, a repeat, and when a buffer is cut),
write the flushes it returns, commit each once durable. Every decision is there; here are
the consumer, the disk and the retries.

A partition's buffer becomes one file per event date (``sinks/dataset.py``). Its offsets
are committed only after *every* file of the flush is durable, and on assignment each
partition resumes at its committed offset. A crash between two files of a flush, or a
failed commit, makes the sink read again records whose rows are (partly) in the lake
already: every dataset has an identity (usage: ``event_id``, deadletter: ``dead_letter_id``)
and the sink skips an identity the lake holds, so what it reads again lands nowhere, and
what a crash lost lands now (``sinks/layout.py`` says why the files cannot overlap).

Why no lake-derived resume point (the old ``max(committed, last offset in the lake + 1)``):
the files of one flush no longer land in offset order, so the lake's largest offset may lie
beyond a date whose file a crash lost. The committed offset is the only point before which
every row is known to be durable. The price: a failed commit re-reads one flush, and a new
consumer group over an existing lake re-reads the topic, writing nothing. A failed write
(disk full, I/O error: ``OSError``, transient) is retried with backoff, never skipped;
anything else stops the sink, and with it the worker, rather than drop rows.

Repeats: upstream stages deliver at least once, so the usage topic can carry an event again
(same ``event_id``) at a later offset. The sink writes the first copy only, whatever lies
between the two (``sinks/recent.py`` says why the per-date index is exact).

aiokafka runs the rebalance callbacks in its coordinator task, *beside* the loop that handles
fetched records, and may hand out records of a new partition (fetched from the committed
offset) before ``on_assigned`` has sought it. So callbacks and the loop take one lock, a
partition's records are used only once it is assigned to the buffers (after the seek), and
only from the offset the buffers expect next. The buffers run in a thread (under the lock),
so reading a date's ids from the lake never blocks the event loop the Faust app shares.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from config.kafka import DEADLETTER as DEADLETTER_TOPIC
from config.kafka import USAGE as USAGE_TOPIC
from config.kafka import client_options
from config.settings import Settings
from schemas.decoded_events import DecodedEvents
from schemas.usage import UsageEvent
from sinks.buffer import Flush, PartitionBuffers, SinkStats
from sinks.dataset import Dataset, write_batch
from sinks.deadletter import DEADLETTER, DeadLetterRow
from sinks.lake import usage_dataset
from sinks.layout import remove_stale_temps
from sinks.policy import SinkPolicy
from sinks.recent import load_day_ids

__all__ = ["LakeSink", "SinkStats", "deadletter_sink", "usage_sink"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_RETRY_DELAY = 30.0
# A commit only saves re-reading offsets that hold no row; never let one hold up the sink.
_COMMIT_TIMEOUT = 10.0


class LakeSink(Generic[T]):
    """Consumes one topic into one lake dataset: the loop, the writes and the commits."""

    def __init__(
        self,
        settings: Settings,
        dataset: Dataset[T],
        topic: str,
        *,
        group_id: str,
        data_dir: Path | None = None,
        policy: SinkPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.dataset = dataset
        self.topic = topic
        self.group_id = group_id
        self.data_dir = data_dir if data_dir is not None else settings.data_dir
        self.policy = policy if policy is not None else SinkPolicy.from_settings(settings)
        self.stats = SinkStats()
        self._buffers = PartitionBuffers(dataset, self.policy, self._load_ids, self.stats)
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=5000,
        )
        await self.consume(consumer)

    async def consume(self, consumer: AIOKafkaConsumer) -> None:
        """Subscribe ``consumer`` (built, not started) and sink its records until ``stop``."""
        self._consumer = consumer
        consumer.subscribe([self.topic], listener=_Resume(self))
        await consumer.start()
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                async with self._lock:
                    if batch:
                        await self._complete(await asyncio.to_thread(self._add, batch))
                    await self._complete(self._buffers.due(time.monotonic()))
            async with self._lock:
                await self._complete(self._buffers.drain())
        finally:
            self._consumer = None
            await consumer.stop()

    def _add(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> list[Flush[T]]:
        now = time.monotonic()
        return [f for tp, records in batch.items() for f in self._buffers.add(tp.partition, records, now)]

    def _load_ids(self, partition: int, day: str) -> set[str]:
        column = self.dataset.identity_column
        return load_day_ids(self.data_dir, self.dataset.name, self.topic, partition, day, column)

    async def _complete(self, flushes: Iterable[Flush[T]]) -> None:
        """Write each flush (one file per date), then commit it: the commit follows every file."""
        for flush in flushes:
            if flush.rows:
                files = await self._write(flush.partition, flush.rows)
                self._buffers.written(flush, len(files))
            await self._commit(flush)

    async def _commit(self, flush: Flush[T]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        tp = TopicPartition(self.topic, flush.partition)
        offsets = {tp: OffsetAndMetadata(flush.commit, "")}
        try:
            await asyncio.wait_for(consumer.commit(offsets), _COMMIT_TIMEOUT)
        except (KafkaError, TimeoutError) as exc:
            # The files are durable: a restart reads this flush again and drops it by identity.
            log.warning("commit of %s@%d failed (harmless): %r", tp, flush.commit, exc)

    async def _write(self, partition: int, records: list[tuple[int, T]]) -> list[Path]:
        delay = 0.5
        while True:
            try:
                return await asyncio.to_thread(
                    write_batch, self.data_dir, self.dataset, self.topic, partition, records
                )
            except OSError as exc:
                # Names are deterministic: a retry rewrites the same files, never adds rows.
                if self._stopping.is_set():
                    raise
                self.stats.write_retries += 1
                log.warning(
                    "writing %s p%d failed (%s); retrying in %.1fs", self.topic, partition, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY)

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self._lock:
            for tp in revoked:
                await self._complete(self._buffers.revoke(tp.partition))

    async def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        async with self._lock:
            await asyncio.to_thread(remove_stale_temps, self.data_dir, self.dataset.name)
            for tp in assigned:
                # Every row before the committed offset is durable; what follows it and is in
                # the lake already (a crash between two files, a failed commit) is a repeat.
                start = await consumer.committed(tp) or 0
                # Always seek: records fetched from the committed offset before now are stale.
                consumer.seek(tp, start)
                # Another member may have written this partition meanwhile: forget its index.
                self._buffers.assign(tp.partition, start)


class _Resume(ConsumerRebalanceListener):
    def __init__(self, sink: LakeSink[Any]) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.sink.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.sink.on_assigned(assigned)


def usage_sink(
    settings: Settings,
    *,
    group_id: str | None = None,
    data_dir: Path | None = None,
    decoded: DecodedEvents | None = None,
) -> LakeSink[UsageEvent]:
    """The usage topic -> ``usage/`` dataset sink (group ``<prefix>-sink`` unless told);
    ``decoded``: the events the rollup of this process decoded (schemas/decoded_events.py)."""
    return LakeSink(
        settings,
        usage_dataset(decoded),
        settings.topic(USAGE_TOPIC),
        group_id=group_id or f"{settings.topic_prefix}-sink",
        data_dir=data_dir,
    )


def deadletter_sink(
    settings: Settings, *, group_id: str | None = None, data_dir: Path | None = None
) -> LakeSink[DeadLetterRow]:
    """The dead-letter topic -> ``deadletter/`` dataset sink (group ``<prefix>-sink-deadletter``)."""
    return LakeSink(
        settings,
        DEADLETTER,
        settings.topic(DEADLETTER_TOPIC),
        group_id=group_id or f"{settings.topic_prefix}-sink-deadletter",
        data_dir=data_dir,
    )
