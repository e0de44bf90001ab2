"""How the runner sends a batch's effects: outputs acknowledged first, state written after.

The worker runs Faust's ``at_least_once`` guarantee: Faust flushes the producer (table
changelogs and outputs) before it commits input offsets, so after a crash it replays
every input whose effects might be incomplete. Replays are harmless when two rules hold:

1. **Deterministic outputs.** The same input met with the same state yields the same
   records (same ``event_id``); every consumer drops a repeat (the ledger keeps maxima,
   the rollup remembers the ledger offsets it applied, the sink the event ids it holds).
2. **Outputs before state.** State is written only after Kafka acknowledged the outputs
   computed from it (:meth:`Outbox.deliver`, then :func:`write_state`). A crash can
   therefore leave outputs without their state (replay re-sends them: rule 1 drops the
   repeat) but never state without its outputs, which would skip the outputs on replay
   and lose usage.

Failures (schemas/errors.py): a Kafka error while sending is **transient**: the whole
batch's outputs are sent again with backoff until Kafka acknowledges them (rule 1 makes
the repeats harmless); nothing is dropped and no state is written meanwhile. Anything
else is a **bug**: :func:`fail_stop` ends the process without committing, so the restart
(spendstream/supervise.py) replays the batch.

Faust internals used here: the aiokafka producer behind Faust's (``_ensure_producer``)
and the memory store's dict (``table.data.data``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from aiokafka.errors import KafkaError

from streams.sender import Batches
from streams.stages.base import Output

log = logging.getLogger(__name__)

FAIL_STOP_EXIT_CODE = 70
# A table recovery that made no progress for too long (streams/runner/recovery.py): EX_TEMPFAIL.
RECOVERY_STALLED_EXIT_CODE = 75
RETRY_FIRST_DELAY, RETRY_MAX_DELAY = 0.5, 30.0


def fail_stop(message: str, *args: Any, exc_info: bool = False, code: int = FAIL_STOP_EXIT_CODE) -> NoReturn:
    """Log why and stop the process at once, nothing committed: the restart replays."""
    log.critical(message, *args, exc_info=exc_info)
    logging.shutdown()
    os._exit(code)


def kafka_producer(faust_producer: Any) -> Any:
    """The aiokafka producer behind Faust's (its accumulator is what Faust flushes)."""
    return faust_producer._ensure_producer()


class Outbox:
    """Sends a batch's outputs and waits until Kafka acknowledged every one of them."""

    def __init__(
        self,
        producer: Any,
        partitions: int,
        topic_names: Mapping[str, str],
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self._producer = producer  # Faust's producer
        self._partitions = partitions
        self._names = topic_names  # logical name -> Kafka topic
        self._on_retry = on_retry

    async def deliver(self, outputs: Sequence[Output]) -> None:
        """Send ``outputs`` (in order per topic partition); on a Kafka error send them all
        again after a pause (doubling up to RETRY_MAX_DELAY), until all are acknowledged."""
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                await self._send(outputs)
                return
            except KafkaError as exc:
                if self._on_retry is not None:
                    self._on_retry()
                log.warning("sending %d outputs failed (%r); again in %.1fs", len(outputs), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)

    async def _send(self, outputs: Sequence[Output]) -> None:
        records = Batches(kafka_producer(self._producer), self._partitions)
        for out in outputs:
            await records.add(
                self._names[out.topic],
                out.key,
                out.value,
                partition=out.partition,
                timestamp=out.timestamp,
                headers=out.headers,
            )
        pending = await records.submit()
        if pending:
            await asyncio.gather(*pending)


def exact_copy(value: bytes) -> bytes:
    """``value`` in a ``bytes`` of its own size (see :func:`write_state`)."""
    return memoryview(value).tobytes()


def table_reader(tables: Mapping[str, Any]) -> Callable[[str, bytes], bytes | None]:
    """``read(table, key)`` straight from the memory stores' dicts: ``table.get`` passes through
    Faust's sensors and raises and catches a KeyError for every missing key."""
    reads = {name: getattr(table.data, "data", table.data).get for name, table in tables.items()}

    def read(table: str, key: bytes) -> bytes | None:
        value: bytes | None = reads[table](key)
        return value

    return read


async def write_state(
    tables: Mapping[str, Any],
    producer: Any,
    partitions: int,
    writes: Mapping[str, Mapping[bytes, tuple[bytes, int]]],
) -> None:
    """Store every write locally and in its table's changelog (one record per key, to the
    partition of the input the key belongs to, as Faust's own ``table[key] = value`` does,
    without its per-write overhead); a table with a time to live learns the keys are alive.

    Each value is stored as an exact-size copy: a ``bytes`` made by ``orjson.dumps`` (3.13)
    keeps its 4 KiB output buffer (bench/results/million.md measured 6 KB per usage event).
    The changelog records are acknowledged before Faust commits (it flushes the producer).
    """
    records = Batches(kafka_producer(producer), partitions)
    now = time.monotonic()
    for name, table_writes in writes.items():
        table = tables[name]
        changelog = table.changelog_topic.get_topic_name()
        expiry = getattr(table, "expiry", None)
        for key, (value, partition) in table_writes.items():
            stored = exact_copy(value)
            table.data[key] = stored
            await records.add(changelog, key, stored, partition=partition)
            if expiry is not None:
                expiry.written(key, partition, now)
    await records.submit()
