"""What a worker stage is: a pure ``handle(batch, state) -> Effects``, no Faust or Kafka inside.

A stage sees its input records as :class:`Record` (what the runner read from Kafka) and its
tables through a :class:`StateView` (a read function per table). It returns
:class:`Effects`: the records to send (outputs and dead letters) and the state to write
once they are acknowledged, one value per key per batch. The runner (streams/runner/) is
the only code that knows Faust: it reads the batch, sends the outputs, waits for Kafka's
acknowledgements, then writes the state, so a crash can leave outputs without their state
(the replay sends them again, and every consumer drops the repeat) but never state
without its outputs.

Failure (schemas/errors.py): a stage turns every terminal error of one input into a dead
letter and goes on; it never raises for input. Anything it raises is a bug, and the runner
stops the worker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from schemas import packing
from schemas.deadletter import DLQ_PREFIX, H_LINE, H_OFFSET, H_PARTITION, H_REASON, H_TOPIC
from schemas.envelope import MAX_ENVELOPES
from schemas.errors import TerminalError
from schemas.money import ZERO_USD
from schemas.packing import H_COUNT as H_PACK_COUNT
from schemas.usage import UsageEvent

Headers = tuple[tuple[str, bytes], ...]

# Logical topic names (config/kafka.py): the runner maps them to the prefixed Kafka topics.
DEADLETTER = "deadletter"


@dataclass(frozen=True, slots=True)
class Record:
    """One input record as a stage sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp: float | None = None  # seconds since the epoch, as Kafka stored it


@dataclass(frozen=True, slots=True)
class Output:
    """One record to send. ``partition`` None: by key (streams/routing.py); ``timestamp``
    None: now (a dead letter keeps its source's, so a replayed one is the same record)."""

    topic: str
    key: bytes
    value: bytes
    headers: Headers = ()
    partition: int | None = None
    timestamp: float | None = None


@dataclass
class Effects:
    """What one batch does: outputs to send, then state to write (table -> key -> value,
    input partition), and what to count (``streams/metrics.py`` absorbs it)."""

    outputs: list[Output] = field(default_factory=list)
    writes: dict[str, dict[bytes, tuple[bytes, int]]] = field(default_factory=dict)
    # Per raw line (normalize): usage / no_usage / duplicate / dead.
    outcomes: Counter[str] = field(default_factory=Counter)
    # Dead letters of a later stage's input (a malformed envelope, a rejected delta).
    dead_letters: int = 0
    events: list[UsageEvent] = field(default_factory=list)  # usage events this batch made
    counters: Counter[str] = field(default_factory=Counter)  # stage-specific counts
    warnings: list[str] = field(default_factory=list)  # one-liners for the log (no content)

    def write(self, table: str, key: bytes, value: bytes, partition: int) -> None:
        self.writes.setdefault(table, {})[key] = (value, partition)

    def send(self, output: Output) -> None:
        self.outputs.append(output)

    def dead(self, output: Output) -> None:
        """Send a dead letter of a later stage's input, counted apart from raw lines."""
        self.dead_letters += 1
        self.outputs.append(output)

    def envelopes(self, record: Record, what: str) -> list[bytes]:
        """The envelopes of a packed internal record; a malformed one is dead-lettered whole
        (reason ``<what> record: ...``) and has none."""
        try:
            return packing.unpack(record.value, record.headers, max_items=MAX_ENVELOPES)
        except TerminalError as exc:
            self.dead(dead_letter(record, f"{what} record: {exc.reason}"))
            return []

    @property
    def cost_usd(self) -> Decimal:
        return sum((event.cost_usd for event in self.events), ZERO_USD)


class StateView:
    """A stage's tables as one batch sees them: its own pending writes over the stored values."""

    def __init__(self, read: Callable[[str, bytes], bytes | None], effects: Effects) -> None:
        self._read = read
        self._writes = effects.writes

    def get(self, table: str, key: bytes) -> bytes | None:
        pending = self._writes.get(table)
        if pending is not None:
            hit = pending.get(key)
            if hit is not None:
                return hit[0]
        return self._read(table, key)


class Stage(Protocol):
    """A pure stage: ``handle`` never raises for input (dead letters instead)."""

    name: str
    input_topic: str  # logical name
    tables: tuple[str, ...]

    def handle(self, batch: Sequence[Record], read: Callable[[str, bytes], bytes | None]) -> Effects: ...


def dead_letter_headers(record: Record, reason: str, line: int | None = None) -> Headers:
    """The input's own headers (any earlier ``ss-dlq-*`` dropped), then why and where it failed:
    reason, topic, partition, offset, and the line/envelope index in a packed record."""
    headers = [(k, v) for k, v in record.headers if not k.startswith(DLQ_PREFIX)]
    headers += [
        (H_REASON, reason.encode("utf-8")),
        (H_TOPIC, record.topic.encode("utf-8")),
        (H_PARTITION, str(record.partition).encode()),
        (H_OFFSET, str(record.offset).encode()),
    ]
    if line is not None:
        headers.append((H_LINE, str(line).encode()))
    return tuple(headers)


def dead_letter(
    record: Record, reason: str, *, value: bytes | None = None, line: int | None = None
) -> Output:
    """The dead letter of ``record`` (or of one line/envelope ``value`` at index ``line`` of it),
    with the source record's key and timestamp."""
    return Output(
        DEADLETTER,
        record.key or b"",
        record.value or b"" if value is None else value,
        dead_letter_headers(record, reason, line),
        timestamp=record.timestamp,
    )


def packed_dead_letter(record: Record, reason: str, data: bytes, index: int) -> Output:
    """One envelope of a packed internal record, dead-lettered alone: its bytes, the record's
    headers without the pack count, and ``ss-dlq-line`` = its index."""
    headers = tuple((k, v) for k, v in record.headers if k != H_PACK_COUNT)
    alone = Record(record.topic, record.partition, record.offset, record.key, None, headers, record.timestamp)
    return dead_letter(alone, reason, value=data, line=index)
