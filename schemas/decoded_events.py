"""Usage events the worker has decoded, by the exact bytes they were decoded from.

The rollup decodes every delta (``UsageEvent.from_json``) and publishes an applied one on
``usage`` with the same bytes (streams/README.md); the lake sink in the same process then
reads those bytes back from Kafka and would decode them again (about a tenth of the
worker's time on a backfill). ``UsageEvent.from_json`` is a pure function of the bytes and
its events are immutable, so the event the rollup decoded *is* what the sink's decode
would return for equal bytes: the sink takes it from here instead.

The ledger hands the rollup its events the same way: it encodes each event
(``UsageEvent.to_json``) into a ``deltas`` envelope that the rollup of this process decodes
again. There the event is not what decoding builds unless it round-trips exactly (its
times in UTC, its amounts at 12 places, plain strings, tuples and dicts: :func:`round_trips`);
only such an event is remembered (:meth:`DecodedEvents.put_encoded`), any other is decoded.

Anything not found (another worker's rollup, a replay after a restart, an entry evicted
because the sink fell behind) is decoded as before; a record that does not decode was
never put here. At most ``max_events`` are kept, the oldest evicted first. The rollup puts
from the event loop and the sink takes from its writer thread, hence the lock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

from schemas.usage import CostSplit, TokenCounts, UsageEvent

# Enough for the sink to lag a few rollup batches of a backfill behind (about 3 KiB each).
DEFAULT_MAX_EVENTS = 20_000


def _text(value: object) -> bool:
    return type(value) is str


def _text_or_none(value: object) -> bool:
    return value is None or type(value) is str


def _utc(moment: object) -> bool:
    # fromisoformat of "+00:00" gives timezone.utc (UTC) and fold 0.
    return type(moment) is datetime and moment.tzinfo is UTC and moment.fold == 0


def _amount(amount: object) -> bool:
    # to_usd of a 12-place string gives a Decimal of exponent -12 (finite, sign kept).
    return type(amount) is Decimal and amount.as_tuple().exponent == -12


def round_trips(event: UsageEvent) -> bool:
    """Whether ``UsageEvent.from_json(event.to_json())`` builds exactly ``event``: the same
    types and values field by field (tests/unit/streams/test_decoded_events.py holds the
    two to the same ``repr``). False whenever it might not."""
    split = event.cost_split
    return (
        type(event) is UsageEvent
        and type(event.schema_version) is int
        and all(map(_text, (event.event_id, event.source, event.runner_id, event.session_id)))
        and _text(event.cost_source)
        and type(event.lineage) is tuple
        and all(map(_text, event.lineage))
        and all(map(_text_or_none, (event.agent_id, event.model, event.auth_mode)))
        and all(map(_text_or_none, (event.message_id, event.request_id)))
        and _utc(event.event_time)
        and (event.source_watermark is None or _utc(event.source_watermark))
        and type(event.tokens) is TokenCounts
        and _amount(event.cost_usd)
        and (split is None or (type(split) is CostSplit and all(map(_amount, split.parts()))))
        and type(event.labels) is dict
        and all(type(k) is str and type(v) is str for k, v in event.labels.items())
    )


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

    def put_encoded(self, data: bytes, event: UsageEvent) -> None:
        """Remember ``event`` for ``data = event.to_json()`` if it round-trips exactly."""
        if round_trips(event):
            self.put(data, event)

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
