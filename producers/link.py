"""One connection to the broker: an idempotent ``acks=all`` producer for the raw topic.

Records go out as explicit per-partition batches, and a partition's next batch is handed
to the client only after the previous one is acknowledged. That costs little (batches
grow while one is in flight) and it is what makes failures safe: the worker drops any
position at or below a stream's high-water mark, so a later line of a stream must never
reach Kafka before an earlier one that failed. With one batch in flight per partition,
whatever the client has accepted is always a prefix of what was sent.

Errors are sorted into three kinds: :class:`BrokerUnavailable` (transient: spool and
retry), :class:`RecordRejected` (terminal for those records: too large for the broker) and
:class:`~config.access.AccessRefused` (terminal for every record: the broker refused this
runner's password or its right to write the raw topic; spooling would keep lines that can
never be sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from config.access import explain, refusal
from config.kafka import RAW, client_options, ensure_topics
from config.settings import Settings
from producers.records import OutRecord
from producers.signing import runner_signing_key
from schemas.signing import signed_headers

log = logging.getLogger(__name__)

_REJECTED = (MessageSizeTooLargeError, RecordListTooLargeError)
_BATCH_BYTES = 512 * 1024


class BrokerUnavailable(Exception):
    """The broker could not be reached or did not acknowledge in time (transient)."""


class RecordRejected(Exception):
    """The broker refuses these records for good (e.g. larger than message.max.bytes)."""


def make_producer(settings: Settings) -> AIOKafkaProducer:
    timeout_ms = int(settings.producer_timeout_seconds * 1000)
    return AIOKafkaProducer(
        **client_options(settings),
        enable_idempotence=True,
        acks="all",
        max_batch_size=_BATCH_BYTES,
        max_request_size=max(settings.max_record_bytes + 64 * 1024, 1024 * 1024),
        request_timeout_ms=max(timeout_ms, 1000),
        retry_backoff_ms=200,
    )


async def _abort(producer: AIOKafkaProducer) -> None:
    """Stop a producer without flushing: nothing it still holds may be delivered later.

    ``stop()`` alone waits until pending batches are delivered, i.e. forever while the
    broker is down; cancelling the sender first makes it return at once.
    """
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), 5.0)


class KafkaLink:
    """A started producer bound to one topic, with the topic's partitions known."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        partitions: list[int],
        timeout: float,
        settings: Settings,
        runner_key: bytes | None = None,
    ) -> None:
        self.settings = settings
        self.producer = producer
        # Every record is signed here, as it leaves, whatever built it (a pack, a line of a
        # split pack, an oversize marker, a spooled record): schemas/signing.py.
        self.runner_key = runner_key
        self.topic = topic
        self.partitions = partitions
        self.timeout = timeout
        self._partition_of: dict[bytes, int] = {}
        self._partitioner = DefaultPartitioner()

    @classmethod
    async def connect(cls, settings: Settings) -> KafkaLink:
        """Connect and make sure the raw topic exists, within ``producer_timeout_seconds``."""
        timeout = settings.producer_timeout_seconds
        topic = settings.topic(RAW)
        runner_key = runner_signing_key(settings)
        producer = make_producer(settings)
        try:
            await asyncio.wait_for(producer.start(), timeout)
            # Metadata of this one topic: asking an admin client lists every topic (slow).
            await asyncio.wait_for(producer.client.add_topic(topic), timeout)
            if not producer.client.cluster.partitions_for_topic(topic):
                await ensure_topics(settings, (RAW,), wait_s=timeout)
            partitions = sorted(await asyncio.wait_for(producer.partitions_for(topic), timeout))
        except (KafkaError, OSError, RuntimeError, TimeoutError) as exc:
            await _abort(producer)
            refused = await explain(exc, settings, action="write", topic=topic)
            if refused is not None:
                raise refused from exc
            raise BrokerUnavailable(f"{settings.bootstrap_servers}: {type(exc).__name__}") from exc
        except asyncio.CancelledError:
            await asyncio.shield(_abort(producer))  # closing while connecting: leave nothing open
            raise
        return cls(producer, topic, partitions, timeout, settings, runner_key)

    def partition_for(self, key: bytes) -> int:
        """Kafka's default (murmur2) partition of a key, as any other client computes it."""
        partition = self._partition_of.get(key)
        if partition is None:
            partition = self._partitioner(key, self.partitions, self.partitions)
            self._partition_of[key] = partition
        return partition

    async def send(self, partition: int, records: Sequence[OutRecord]) -> None:
        """Send records to one partition in order; returns when all are acknowledged."""
        start = 0
        while start < len(records):
            batch = self.producer.create_batch()
            end = start
            while end < len(records):
                record = records[end]
                headers = list(record.headers)
                if self.runner_key is not None:
                    headers = signed_headers(self.runner_key, record.key, record.value, headers)
                appended = batch.append(key=record.key, value=record.value, timestamp=None, headers=headers)
                if appended is None:
                    break
                end += 1
            await self._send_batch(batch, partition)
            start = end

    async def _send_batch(self, batch: Any, partition: int) -> None:
        try:
            future = await asyncio.wait_for(
                self.producer.send_batch(batch, self.topic, partition=partition), self.timeout
            )
            await asyncio.wait_for(future, self.timeout)
        except _REJECTED as exc:
            raise RecordRejected(type(exc).__name__) from exc
        except (KafkaError, OSError, TimeoutError) as exc:
            refused = refusal(exc, self.settings, action="write", topic=self.topic)
            if refused is not None:
                raise refused from exc
            raise BrokerUnavailable(f"partition {partition}: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Graceful stop (everything already acknowledged); abort if the broker hangs."""
        try:
            await asyncio.wait_for(self.producer.stop(), self.timeout)
        except (KafkaError, OSError, TimeoutError):
            await _abort(self.producer)

    async def abort(self) -> None:
        await _abort(self.producer)
