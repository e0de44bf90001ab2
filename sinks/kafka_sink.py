"""The usage topic -> Parquet lake consumer (runs inside the worker process).

Offsets are committed only after the files holding them are durable. On assignment each
partition resumes at max(committed offset, last offset in the lake + 1), so a crash between
the file rename and the commit does not write the same rows twice. Reads are
``read_committed``: events of aborted worker transactions never reach the lake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from schemas.usage import SchemaError, UsageEvent
from sinks.lake import lake_high_watermarks, write_usage_batch
from spendstream.kafka import USAGE, client_options
from spendstream.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class _Buffer:
    records: list[tuple[int, UsageEvent]] = field(default_factory=list)
    last_offset: int = -1
    opened_at: float = 0.0


@dataclass
class SinkStats:
    rows_written: int = 0
    files_written: int = 0
    bad_records: int = 0


class UsageSink:
    """Buffers usage events per partition and writes them to Parquet by size or age."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic(USAGE)
        self.data_dir = settings.data_dir
        self.stats = SinkStats()
        self._buffers: dict[TopicPartition, _Buffer] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=f"{self.settings.topic_prefix}-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=5000,
        )
        self._consumer = consumer
        consumer.subscribe([self.topic], listener=_Resume(self))
        await consumer.start()
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for tp, messages in batch.items():
                    self._add(tp, messages)
                await self._flush_due(force=False)
            await self._flush_due(force=True)
        finally:
            self._consumer = None
            await consumer.stop()

    def _add(self, tp: TopicPartition, messages: Iterable[object]) -> None:
        buffer = self._buffers.setdefault(tp, _Buffer())
        for message in messages:
            offset: int = message.offset  # type: ignore[attr-defined]
            buffer.last_offset = offset
            try:
                event = UsageEvent.from_json(message.value)  # type: ignore[attr-defined]
            except SchemaError as exc:
                # The worker only writes valid events; anything else is counted and logged
                # (by position, never by content) and its offset still advances.
                self.stats.bad_records += 1
                log.error("usage record %s@%d is not a valid usage event: %s", tp, offset, exc)
                continue
            if not buffer.records:
                buffer.opened_at = time.monotonic()
            buffer.records.append((offset, event))

    async def _flush_due(self, force: bool) -> None:
        now = time.monotonic()
        for tp, buffer in list(self._buffers.items()):
            if buffer.last_offset < 0:
                continue
            full = len(buffer.records) >= self.settings.sink_max_rows
            old = bool(buffer.records) and now - buffer.opened_at >= self.settings.sink_flush_seconds
            if force or full or old or not buffer.records:
                await self._flush(tp, buffer)

    async def _flush(self, tp: TopicPartition, buffer: _Buffer) -> None:
        if buffer.records:
            files = await asyncio.to_thread(
                write_usage_batch, self.data_dir, self.topic, tp.partition, list(buffer.records)
            )
            self.stats.files_written += len(files)
            self.stats.rows_written += len(buffer.records)
        if self._consumer is not None:
            await self._consumer.commit({tp: OffsetAndMetadata(buffer.last_offset + 1, "")})
        self._buffers.pop(tp, None)

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            buffer = self._buffers.get(tp)
            if buffer is not None:
                await self._flush(tp, buffer)

    async def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        marks = await asyncio.to_thread(lake_high_watermarks, self.data_dir, self.topic)
        for tp in assigned:
            self._buffers.pop(tp, None)
            committed = await consumer.committed(tp)
            in_lake = marks.get(tp.partition, -1) + 1
            start = max(committed or 0, in_lake)
            if committed is None or start != committed:
                consumer.seek(tp, start)


class _Resume(ConsumerRebalanceListener):
    def __init__(self, sink: UsageSink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.sink.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.sink.on_assigned(assigned)
