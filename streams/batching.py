"""How every stage processes a batch: outputs acknowledged first, state written after.

The worker runs Faust's ``at_least_once`` guarantee: Faust flushes the producer (table
changelogs and outputs) before it commits input offsets, so after a crash it replays
every input whose effects might be incomplete. Replays are harmless when two rules hold:

1. **Deterministic outputs.** The same input met with the same state yields the same
   records (same ``event_id``); every consumer drops a repeat (the ledger keeps maxima,
   the rollup and the sink remember recent event ids).
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
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event

log = logging.getLogger(__name__)

FAIL_STOP_EXIT_CODE = 70


@contextmanager
def in_event(event: Any) -> Any:
    """Make ``event`` the current one, so a table write goes to its source partition."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class StateBatch:
    """A table seen through one batch's pending writes; :meth:`write` stores them."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._writes: dict[bytes, tuple[bytes, Any]] = {}

    def get(self, key: bytes) -> bytes | None:
        pending = self._writes.get(key)
        if pending is not None:
            return pending[0]
        value: bytes | None = self.table.get(key)
        return value

    def set(self, key: bytes, value: bytes, event: Any) -> None:
        """Stage a write; ``event`` is the input it came from (its partition holds the key)."""
        self._writes[key] = (value, event)

    def write(self) -> int:
        """Store every staged write in the table (one changelog message per key)."""
        for key, (value, event) in self._writes.items():
            with in_event(event):
                self.table[key] = value
        count = len(self._writes)
        self._writes.clear()
        return count


class Outbox:
    """Output records of one batch; :meth:`delivered` waits until Kafka acknowledged all."""

    def __init__(self) -> None:
        self._pending: list[Awaitable[Any]] = []

    async def send(
        self, topic: Any, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]] | None = None
    ) -> None:
        future = await topic.send(key=key, value=value, headers=list(headers) if headers else None)
        self._pending.append(future)

    async def delivered(self) -> int:
        count = len(self._pending)
        if self._pending:
            await asyncio.gather(*self._pending)
        self._pending.clear()
        return count


async def batches(
    stream: Any,
    handle: Callable[[Sequence[Any]], Awaitable[None]],
    *,
    size: int,
    within: float,
    stage: str,
) -> AsyncIterator[None]:
    """Run ``handle`` on each batch of events; stop the process if a batch fails."""
    async for events in stream.take_events(size, within):
        try:
            await handle(events)
        except BaseException:  # a cancelled or failed batch must never be committed
            log.critical(
                "stage %s: a batch failed; stopping the worker so it is replayed", stage, exc_info=True
            )
            logging.shutdown()
            os._exit(FAIL_STOP_EXIT_CODE)
        yield None
