"""Internal topics hold only what the worker has not committed yet.

``observations`` and ``deltas`` carry every observation and usage event between the stages.
They keep no history of their own: ``usage`` is the replayable record of what was counted,
and the tables recover from their changelogs. Time-based retention would not be safe (a
worker down for longer than the retention would lose its unread input), so, as Kafka
Streams does with its repartition topics, their retention is unlimited and the worker
deletes each partition's records below the group's committed offset (``DeleteRecords``),
for the partitions it owns, every ``interval`` seconds. A record below the committed offset
is never read again: a restart or a rebalance resumes at the committed offset.

The offsets are the group's, read from the broker (``OffsetFetch``), never Faust's own
idea of them: Faust 0.15.3 records an offset as committed even when the commit failed
(``Consumer.commit`` updates ``_committed_offset`` whatever ``_commit`` returned, as in a
commit refused during a rebalance), and deleting below such an offset lost a killed
peer's unread deltas in a test. A failed deletion is harmless (the next round deletes up to
a later offset) and is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.errors import KafkaError

from config.kafka import client_options
from config.settings import Settings

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 30.0


class InternalPurge:
    def __init__(self, app: Any, settings: Settings, topics: Iterable[str]) -> None:
        self.app = app
        self.settings = settings
        self.topics = frozenset(topics)
        self._purged: dict[Any, int] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self.deleted_up_to: dict[str, int] = {}  # topic-partition -> offset, for /metrics

    def due(self, committed: dict[TopicPartition, int]) -> dict[TopicPartition, RecordsToDelete]:
        """Per internal partition, the group's committed offset if it moved since the last purge."""
        return {
            tp: RecordsToDelete(offset)
            for tp, offset in committed.items()
            if offset > 0 and offset > self._purged.get(tp, 0)
        }

    async def run_once(self) -> None:
        owned = [
            TopicPartition(tp.topic, tp.partition)
            for tp in self.app.consumer.assignment()
            if tp.topic in self.topics
        ]
        if not owned:
            return
        try:
            if self._admin is None:
                self._admin = AIOKafkaAdminClient(**client_options(self.settings), request_timeout_ms=10_000)
                await self._admin.start()
            offsets = await self._admin.list_consumer_group_offsets(self.app.conf.id, partitions=owned)
            due = self.due({tp: meta.offset for tp, meta in offsets.items()})
            if not due:
                return
            await self._admin.delete_records(due, timeout_ms=10_000)
        except (KafkaError, OSError) as exc:
            log.info("deleting committed records of internal topics failed (retried later): %r", exc)
            return
        for tp, records in due.items():
            self._purged[tp] = records.before_offset
            self.deleted_up_to[f"{tp.topic}-{tp.partition}"] = records.before_offset

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
