"""The worker's state tables, and how their expired keys are forgotten (streams/expiry.py).

A table with a time to live tracks when each key was last written (by
:class:`streams.batching.StateBatch`) or recovered from its changelog (here, as Faust
applies changelog records). A timer of the worker calls :func:`forget_expired` every
:func:`sweep_interval`, with or without traffic: each expired key leaves the local store
and gets a tombstone in the changelog, so a recovery after a restart or a rebalance does
not bring it back. A key is tombstoned only while this worker owns its partition: after a
rebalance another worker may hold it, alive.

The sweep runs beside the stages' batches. That is safe because a stage always writes a
key's whole value: a batch that read a key before the sweep dropped it writes it back, and
its changelog record follows the tombstone on the same partition, through the same producer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import faust

from streams.expiry import Expiry


class ExpiringTable(faust.Table):
    """A bytes -> bytes table whose keys may expire (``expiry`` None: they never do)."""

    expiry: Expiry | None = None

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        events = list(batch)
        super().apply_changelog_batch(events)
        expiry = self.expiry
        if expiry is None:
            return
        now = time.monotonic()
        for event in events:
            key = event.message.key
            if event.message.value is None:
                expiry.forget(key)
            else:
                expiry.recovered(key, event.message.partition, now)


def state_table(app: faust.App, name: str, partitions: int, ttl_seconds: float | None) -> ExpiringTable:
    """A table of the worker (keys and values are bytes), expiring after ``ttl_seconds``."""
    table = ExpiringTable(
        app,
        name=name,
        default=None,
        beacon=app.tables.beacon,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
    )
    table.expiry = Expiry(ttl_seconds) if ttl_seconds is not None else None
    app.tables.add(table)
    return table


def sweep_interval(ttl_seconds: float) -> float:
    """How often to look for expired keys: a tenth of the TTL, between 0.5 s and 30 s."""
    return max(0.5, min(30.0, ttl_seconds / 10))


async def forget_expired(table: ExpiringTable, producer: Any, owned: Callable[[int], bool]) -> int:
    """Drop the table's expired keys; tombstone those of partitions this worker owns.

    Returns how many keys were dropped.
    """
    expiry = table.expiry
    if expiry is None:
        return 0
    expired = expiry.expired(time.monotonic())
    if not expired:
        return 0
    changelog = table.changelog_topic.get_topic_name()
    store = table.data
    recovered_partitions = getattr(store, "_key_partition", None)  # the memory store's own map
    for key, partition in expired:
        store.pop(key, None)
        if recovered_partitions is not None:
            recovered_partitions.pop(key, None)
        if owned(partition):
            await producer.send(changelog, key, None, partition, None, None)
    return len(expired)
