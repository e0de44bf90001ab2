"""Usage events the worker has decoded, by the exact bytes they were decoded from.

The rollup decodes every delta (``UsageEvent.from_json``) and publishes an applied one on
``usage`` with the same bytes (streams/README.md); the lake sink in the same process then
reads those bytes back from Kafka and would decode them again (about a tenth of the
worker's time on a backfill). ``UsageEvent.from_json`` is a pure function of the bytes and
its events are immutable, so the event the rollup decoded *is* what the sink's decode
would return for equal bytes: the sink takes it from here instead.

Anything not found (another worker's rollup, a replay after a restart, an entry evicted
because the sink fell behind) is decoded as before; a record that does not decode was
never put here. At most ``max_events`` are kept, the oldest evicted first. The rollup puts
from the event loop and the sink takes from its writer thread, hence the lock.
"""

from __future__ import annotations

import threading

from schemas.usage import UsageEvent

# Enough for the sink to lag a few rollup batches of a backfill behind (about 3 KiB each).
DEFAULT_MAX_EVENTS = 20_000


class DecodedEvents:
    """Events by the bytes they were decoded from, handed from one decoder to the next."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if max_events < 1:
            raise ValueError("max_events must be positive")
        self.max_events = max_events
        self._events: dict[bytes, UsageEvent] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._events)

    def put(self, data: bytes, event: UsageEvent) -> None:
        """Remember that ``UsageEvent.from_json(data)`` is ``event``."""
        with self._lock:
            if data not in self._events and len(self._events) >= self.max_events:
                del self._events[next(iter(self._events))]
            self._events[data] = event

    def take(self, data: bytes) -> UsageEvent:
        """``UsageEvent.from_json(data)``: the remembered event (forgotten once taken), else
        decoded; raises SchemaError as ``from_json`` does."""
        with self._lock:
            event = self._events.pop(data, None)
        if event is not None:
            self.hits += 1
            return event
        self.misses += 1
        return UsageEvent.from_json(data)
