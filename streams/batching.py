"""How every stage processes a batch: outputs acknowledged first, state written after.

The worker runs Faust's ``at_least_once`` guarantee: Faust flushes the producer (table
changelogs and outputs) before it commits input offsets, so after a crash it replays
every input whose effects might be incomplete. Replays are harmless when two rules hold:

1. **Deterministic outputs.** The same input met with the same state yields the same
   records (same ``event_id``); every consumer drops a repeat (the ledger keeps maxima,
   the rollup remembers the ledger offsets it applied, the sink the event ids it holds).
2. **Outputs before state.** A stage writes its state only after Kafka acknowledged the
   outputs computed from it (:class:`Outbox`, then :meth:`StateBatch.write`). A crash can
   therefore leave outputs without their state (replay re-sends them: rule 1 drops the
   repeat) but never state without its outputs, which would skip the outputs on replay
   and lose usage.

Per batch, a stage reads through :class:`StateBatch` (its own writes over the table),
queues outputs in an :class:`Outbox`, waits for every acknowledgement, then writes each
changed key once (FAUST_NOTES: one changelog message per key per batch, not per input).

:func:`batches` wraps ``stream.take_events``, which acks a batch's inputs even when the
handler raised. A failed batch must not be committed, so the worker stops at once
(``os._exit``): like a crash, the restart replays the batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NoReturn

from streams.order import InputOrder
from streams.sender import Batches

log = logging.getLogger(__name__)

FAIL_STOP_EXIT_CODE = 70


def fail_stop(message: str, *args: Any, exc_info: bool = False) -> NoReturn:
    """Log why and stop the process at once, nothing committed: the restart replays."""
    log.critical(message, *args, exc_info=exc_info)
    logging.shutdown()
    os._exit(FAIL_STOP_EXIT_CODE)


class StateBatch:
    """A table seen through one batch's pending writes; :meth:`write` stores them.

    A write updates the table's local store and sends the changelog record to the
    partition of the input the key belongs to, as Faust's own ``table[key] = value`` does,
    without its per-write overhead (FAUST_NOTES: Faust costs about 0.2 ms per message; a
    batch can write thousands of keys): the records go in Kafka record batches
    (streams/sender.py). Faust flushes the producer before it commits input offsets, so
    the changelog is durable first.
    """

    def __init__(self, table: Any, producer: Any, partitions: int) -> None:
        self.table = table
        self.producer = producer
        self.partitions = partitions
        self._writes: dict[bytes, tuple[bytes, int]] = {}
        # Reads go to the memory store's own dict: ``table.get`` passes through Faust's
        # sensors and raises and catches a KeyError for every missing key (a new scope's
        # windows are all missing keys).
        store = table.data
        self._read = getattr(store, "data", store).get

    def get(self, key: bytes) -> bytes | None:
        pending = self._writes.get(key)
        if pending is not None:
            return pending[0]
        value: bytes | None = self._read(key)
        return value

    def set(self, key: bytes, value: bytes, partition: int) -> None:
        """Stage a write; ``partition`` is that of the input the key belongs to.

        The value is stored as an exact-size copy: a ``bytes`` made by ``orjson.dumps``
        (3.13) keeps its 4 KiB output buffer, so a 60-byte ledger state held in the table
        cost 4 KiB of memory (bench/results/million.md measured 6 KB per usage event).
        """
        self._writes[key] = (memoryview(value).tobytes(), partition)

    async def write(self) -> None:
        """Store every staged write locally and in the changelog (one record per key); a
        table with a time to live (streams/state.py) learns that the keys are alive."""
        if not self._writes:
            return
        changelog = self.table.changelog_topic.get_topic_name()
        expiry = getattr(self.table, "expiry", None)
        now = time.monotonic()
        records = Batches(self.producer._ensure_producer(), self.partitions)  # Faust's aiokafka one
        for key, (value, partition) in self._writes.items():
            self.table.data[key] = value
            await records.add(changelog, key, value, partition=partition)
            if expiry is not None:
                expiry.written(key, partition, now)
        await records.submit()  # acknowledged before Faust commits (it flushes the producer)
        self._writes.clear()


class Outbox:
    """Output records of one batch; :meth:`delivered` waits until Kafka acknowledged all."""

    def __init__(self, producer: Any, partitions: int) -> None:
        self._records = Batches(producer._ensure_producer(), partitions)  # Faust's aiokafka one

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        timestamp: float | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one record; ``timestamp`` (seconds) keeps a replayed output's time identical;
        ``partition`` None: by key, as the worker's producer routes (streams/routing.py)."""
        await self._records.add(topic, key, value, partition=partition, timestamp=timestamp, headers=headers)

    async def delivered(self) -> None:
        pending = await self._records.submit()
        if pending:
            await asyncio.gather(*pending)


async def batches(
    stream: Any,
    handle: Callable[[Sequence[Any]], Awaitable[None]],
    *,
    size: int,
    within: float,
    stage: str,
    timed: Callable[[str, int, float], None] | None = None,
    order: InputOrder | None = None,
) -> AsyncIterator[None]:
    """Run ``handle`` on each batch of events; stop the process if a batch fails, or
    before handling one that comes after a skipped record (``order``, streams/order.py).

    ``timed(stage, records, seconds)`` is told how long each batch took.
    """
    async for events in stream.take_events(size, within):
        gap = order.first_gap(events) if order is not None else None
        if gap is not None:
            tp, expected, offset = gap
            fail_stop(
                "stage %s: %s offset %d arrived while %d..%d were never handed over; "
                "stopping so the restart reads them in order",
                *(stage, tp, offset, expected, offset - 1),
            )
        try:
            started = time.perf_counter()
            await handle(events)
            if timed is not None:
                timed(stage, len(events), time.perf_counter() - started)
        except BaseException:  # a cancelled or failed batch must never be committed
            fail_stop("stage %s: a batch failed; stopping the worker so it is replayed", stage, exc_info=True)
        yield None
