"""Topic -> Parquet lake consumers (run inside the worker process): usage and dead letters.

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
(disk full, I/O error) is retried with backoff, never skipped.

Repeats: upstream stages deliver at least once, so the usage topic can carry an event again
(same ``event_id``) at a later offset. The sink writes the first copy only, whatever lies
between the two (``sinks/recent.py`` says why the per-date index is exact).

aiokafka runs the rebalance callbacks in its coordinator task, *beside* the loop that handles
fetched records, and may hand out records of a new partition (fetched from the committed
offset) before ``on_assigned`` has sought it. So callbacks and the loop take one lock, a
partition's records are used only once it is prepared, and only from the offset the sink
expects next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from config.kafka import DEADLETTER as DEADLETTER_TOPIC
from config.kafka import USAGE as USAGE_TOPIC
from config.kafka import client_options
from config.settings import Settings
from schemas.usage import UsageEvent
from sinks.dataset import BadRecord, Dataset, write_batch
from sinks.deadletter import DEADLETTER, DeadLetterRow
from sinks.lake import USAGE
from sinks.layout import day_of, remove_stale_temps
from sinks.policy import BufferStats, SinkPolicy, cut_before, due, full
from sinks.recent import PartitionIds, load_day_ids

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_RETRY_DELAY = 30.0
# A commit only saves re-reading offsets that hold no row; never let one hold up the sink.
_COMMIT_TIMEOUT = 10.0


@dataclass
class _Buffer(Generic[T]):
    records: list[tuple[int, T]] = field(default_factory=list)
    stats: BufferStats = field(default_factory=BufferStats)
    last_offset: int = -1
    identities: set[str] = field(default_factory=set)


@dataclass
class SinkStats:
    rows_written: int = 0
    files_written: int = 0
    bad_records: int = 0
    write_retries: int = 0
    repeated_records: int = 0
    stale_records: int = 0


class LakeSink(Generic[T]):
    """Buffers one topic's records per partition and writes them to one lake dataset."""

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
        self._buffers: dict[TopicPartition, _Buffer[T]] = {}
        self._next_offsets: dict[TopicPartition, int] = {}
        """Per prepared partition, the offset the sink expects next (earlier ones are stale)."""
        self._ids: dict[int, PartitionIds] = {}
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
        """Subscribe ``consumer`` (not started) and sink its records until ``stop``.

        ``run`` builds the consumer; unit tests pass a stand-in with the same methods.
        """
        self._consumer = consumer
        consumer.subscribe([self.topic], listener=_Resume(self))
        await consumer.start()
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                async with self._lock:
                    for tp, messages in batch.items():
                        await self._add(tp, messages)
                    await self._flush_due()
            async with self._lock:
                for tp in list(self._buffers):
                    await self._flush(tp)
        finally:
            self._consumer = None
            await consumer.stop()

    async def _add(self, tp: TopicPartition, messages: Sequence[Any]) -> None:
        for message in messages:
            expected = self._next_offsets.get(tp)
            if expected is None or message.offset < expected:
                # Fetched before on_assigned sought the partition (or for a partition no longer
                # ours): the seek makes the consumer deliver these positions again, in order.
                self.stats.stale_records += 1
                continue
            self._next_offsets[tp] = message.offset + 1
            buffer = self._buffers.setdefault(tp, _Buffer())
            try:
                item = self.dataset.decode(message)
            except BadRecord as exc:
                # Logged by position, never by content; its offset is committed with the next flush.
                self.stats.bad_records += 1
                log.error("%s@%d skipped: %s", tp, message.offset, exc)
                buffer.last_offset = message.offset
                continue
            event_time = self.dataset.event_time(item)
            identity = self.dataset.identity(item)
            if await self._repeated(tp.partition, buffer, identity, event_time):
                # The first copy is in the lake or in this buffer: an upstream stage repeated it,
                # or this sink reads it again after a crash or a failed commit.
                self.stats.repeated_records += 1
                buffer.last_offset = message.offset
                continue
            if cut_before(self.policy, buffer.stats, event_time):
                await self._flush(tp)
                buffer = self._buffers.setdefault(tp, _Buffer())
            buffer.records.append((message.offset, item))
            buffer.identities.add(identity)
            buffer.stats.add(len(message.value or b""), event_time, time.monotonic())
            buffer.last_offset = message.offset
            if full(self.policy, buffer.stats):
                await self._flush(tp)

    async def _repeated(
        self, partition: int, buffer: _Buffer[T], identity: str, event_time: datetime
    ) -> bool:
        """Whether the identity is already durable in the lake or waiting in the buffer.

        The lake's ids of the item's date are read the first time the date is met (in this
        loop, under the lock: no file of this partition is written meanwhile); ids join the
        index only once their file is durable, and a dropped buffer takes its ids with it.
        """
        if identity in buffer.identities:
            return True
        ids = self._ids.setdefault(partition, PartitionIds())
        day = day_of(event_time)
        if not ids.knows(day):
            known = await asyncio.to_thread(
                load_day_ids,
                self.data_dir,
                self.dataset.name,
                self.topic,
                partition,
                day,
                self.dataset.identity_column,
            )
            ids.put(day, known)
        return ids.holds(day, identity)

    async def _flush_due(self) -> None:
        now = time.monotonic()
        for tp, buffer in list(self._buffers.items()):
            if due(self.policy, buffer.stats, now) or not buffer.records:
                await self._flush(tp)

    async def _flush(self, tp: TopicPartition) -> None:
        """Write the buffer (one file per date), then commit: the commit follows every file."""
        buffer = self._buffers.pop(tp, None)
        if buffer is None or buffer.last_offset < 0:
            return
        if buffer.records:
            files = await self._write(tp.partition, buffer.records)
            self._remember(tp.partition, buffer.records)
            self.stats.files_written += len(files)
            self.stats.rows_written += len(buffer.records)
        consumer = self._consumer
        if consumer is None:
            return
        try:
            await asyncio.wait_for(
                consumer.commit({tp: OffsetAndMetadata(buffer.last_offset + 1, "")}), _COMMIT_TIMEOUT
            )
        except (KafkaError, TimeoutError) as exc:
            # The files are durable: a restart reads this flush again and drops it by identity.
            log.warning("commit of %s@%d failed (harmless): %r", tp, buffer.last_offset + 1, exc)

    def _remember(self, partition: int, records: list[tuple[int, T]]) -> None:
        """Add the identities of records whose files are now durable to the partition's index."""
        ids = self._ids.get(partition)
        if ids is None:
            return
        for _, item in records:
            ids.add(day_of(self.dataset.event_time(item)), self.dataset.identity(item))

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
                await self._flush(tp)
                self._forget(tp)

    async def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        async with self._lock:
            await asyncio.to_thread(remove_stale_temps, self.data_dir, self.dataset.name)
            for tp in assigned:
                # Another member may have written this partition meanwhile: forget its index.
                self._forget(tp)
                # Every row before the committed offset is durable; what follows it and is in
                # the lake already (a crash between two files, a failed commit) is a repeat.
                start = await consumer.committed(tp) or 0
                # Always seek: records fetched from the committed offset before now are stale.
                consumer.seek(tp, start)
                self._next_offsets[tp] = start

    def _forget(self, tp: TopicPartition) -> None:
        self._buffers.pop(tp, None)
        self._next_offsets.pop(tp, None)
        self._ids.pop(tp.partition, None)


class _Resume(ConsumerRebalanceListener):
    def __init__(self, sink: LakeSink[Any]) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.sink.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.sink.on_assigned(assigned)


def usage_sink(
    settings: Settings, *, group_id: str | None = None, data_dir: Path | None = None
) -> LakeSink[UsageEvent]:
    """The usage topic -> ``usage/`` dataset sink (group ``<prefix>-sink`` unless told)."""
    return LakeSink(
        settings,
        USAGE,
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
