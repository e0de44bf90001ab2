"""Live totals for ``spendstream serve``: the compacted ``totals`` topic, followed into memory.

One consumer (no group) reads the topic from the beginning once, keeping per scope the
record with the highest version (versions only grow), then follows it. The cache is
``ready`` once it reached the end offsets it saw at start. A broker that cannot be reached
is transient: the cache says why (``error``) and tries again with backoff; the lake part
of ``serve`` works without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from config.access import explain
from config.kafka import TOTALS, client_options
from config.settings import Settings
from schemas.rollup import ScopeTotals

log = logging.getLogger(__name__)


class TotalsCache:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.latest: dict[str, ScopeTotals] = {}
        self.ready = False
        self.error: str | None = "not connected yet"
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    def add(self, value: bytes) -> None:
        try:
            record = ScopeTotals.from_json_dict(orjson.loads(value))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return  # not ours to judge: the topic's writer is the worker
        current = self.latest.get(record.scope)
        if current is None or record.version > current.version:
            self.latest[record.scope] = record

    def tree(self, root: str) -> list[ScopeTotals]:
        """Every scope of ``root``'s tree, the root first."""
        scopes = [r for r in self.latest.values() if r.root_id == root]
        return sorted(scopes, key=lambda r: (r.scope != root, r.scope))

    def roots(self, limit: int = 20) -> list[ScopeTotals]:
        """Root scopes by subtree cost, largest first."""
        roots = [r for r in self.latest.values() if r.parent_id is None]
        return sorted(roots, key=lambda r: (-r.subtree.cost_usd, r.scope))[:limit]

    async def run(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._follow()
                return
            except (KafkaError, OSError) as exc:
                refused = await explain(exc, self.settings, action="read", topic=self.settings.topic(TOTALS))
                if refused is not None:  # terminal: retrying cannot fix a password or an ACL
                    self.error = f"totals unavailable: {refused}"
                    log.error("%s", self.error)
                    return
                self.error = f"totals unavailable: {exc!r}"
                log.info("%s; again in %.1fs", self.error, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 30.0)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            self.settings.topic(TOTALS),
            **client_options(self.settings),
            group_id=None,
            client_id=f"spendstream-serve-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        try:
            await consumer.start()
            partitions = list(consumer.assignment()) or await _partitions(consumer)
            if not partitions:
                raise KafkaError("the totals topic has no partitions assigned yet")
            ends = await consumer.end_offsets(partitions)
            self.error = None
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for message in messages:
                        if message.value is not None:
                            self.add(message.value)
                if not self.ready:
                    positions = [await consumer.position(tp) for tp in ends]
                    self.ready = all(p >= end for p, end in zip(positions, ends.values(), strict=True))
        finally:
            await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer) -> list[object]:
    """The subscription's partitions once the consumer has its assignment."""
    for _ in range(100):
        assigned = list(consumer.assignment())
        if assigned:
            return assigned
        await asyncio.sleep(0.1)
    return []
