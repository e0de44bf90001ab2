"""The sink's decisions, with no consumer, clock or disk of their own: per partition, which
records to keep, when to cut, and what to write and commit.

``PartitionBuffers`` is what ``sinks/kafka_sink.py`` hands fetched records to. For each
record of a partition it decides, in this order:

1. **stale**: the partition is not prepared (no ``assign`` yet, or revoked) or the offset lies
   before the one expected next. aiokafka can hand out records fetched before the seek to the
   resume point; the seek delivers those positions again, in order. Not counted in any flush.
2. **bad**: ``Dataset.decode`` raised ``BadRecord``. Logged by position, never by content; no
   row, but its offset is committed with the next flush.
3. **repeat**: its identity is in the buffer, in a flush handed out but not yet ``written``,
   or in the lake (``load_ids`` reads a date's ids the first time the date is met; see
   ``sinks/recent.py`` for why the per-date index is exact). No row; offset committed.
4. otherwise a row: first a **cut** (the item would stretch its date's span past the policy's
   limit: the buffer so far is flushed), then appended, then flushed if **full**.

``due`` flushes buffers whose oldest row has waited long enough, and buffers of skipped
offsets only (so their offsets get committed). A ``Flush`` says what to write (rows in
ascending offsets, possibly none) and the offset to commit once *every* file of it is durable.
The caller writes the flushes in the order given, then reports each with ``written``: only
then do its ids join the lake index. Until then they count as buffered, so a repeat met
between the cut and the write is still dropped. A flush that is never written (the process
dies) leaves no trace in a fresh ``PartitionBuffers``, which is all a restart has.

``assign`` and ``revoke`` forget a partition: its buffer, its expected offset and its index
(another member may have written the partition meanwhile). ``revoke`` hands out the buffer's
flush first. The model is Quix Streams' ``BatchingSink``: ``add`` buffers per partition, a
flush takes the batch away whatever happens to its write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from sinks.dataset import BadRecord, Dataset, KafkaRecord
from sinks.layout import day_of
from sinks.policy import BufferStats, FlushReason, SinkPolicy, cut_before, due, full
from sinks.recent import PartitionIds

log = logging.getLogger(__name__)

T = TypeVar("T")

LoadIds = Callable[[int, str], set[str]]
"""(partition, date) -> every identity the lake holds for them (``recent.load_day_ids``)."""

FlushCause = FlushReason | Literal["skipped", "revoke", "stop"]
"""Why a buffer was flushed: a policy reason (``span`` is a cut before an item), every record
skipped, the partition revoked, or the sink stopping."""


@dataclass
class SinkStats:
    """What a sink did, counted as it goes (``spendstream`` logs and tests read it)."""

    rows_written: int = 0
    files_written: int = 0
    bad_records: int = 0
    write_retries: int = 0
    repeated_records: int = 0
    stale_records: int = 0


@dataclass(frozen=True)
class Flush(Generic[T]):
    """One partition's buffer, taken away: write ``rows``, then commit ``commit``."""

    partition: int
    rows: list[tuple[int, T]]
    """``(offset, item)`` in ascending offsets; empty when every record was skipped."""
    commit: int
    """The offset to commit once every file of ``rows`` is durable: the buffer's last + 1."""
    cause: FlushCause
    identities: frozenset[str] = frozenset()


@dataclass
class _Buffer(Generic[T]):
    rows: list[tuple[int, T]] = field(default_factory=list)
    stats: BufferStats = field(default_factory=BufferStats)
    last_offset: int = -1
    identities: set[str] = field(default_factory=set)


@dataclass
class _Partition(Generic[T]):
    expected: int
    """The offset expected next: earlier ones are stale."""
    buffer: _Buffer[T] = field(default_factory=_Buffer)
    ids: PartitionIds = field(default_factory=PartitionIds)
    unwritten: list[Flush[T]] = field(default_factory=list)
    """Flushes handed out whose files are not yet reported durable."""


class PartitionBuffers(Generic[T]):
    """One topic's buffers, one per assigned partition, and the decisions about them."""

    def __init__(
        self,
        dataset: Dataset[T],
        policy: SinkPolicy,
        load_ids: LoadIds,
        stats: SinkStats | None = None,
    ) -> None:
        self.dataset = dataset
        self.policy = policy
        self.load_ids = load_ids
        self.stats = stats if stats is not None else SinkStats()
        self._partitions: dict[int, _Partition[T]] = {}

    def assign(self, partition: int, start: int) -> None:
        """The partition is ours from ``start`` (its committed offset); forget what we knew."""
        self._partitions[partition] = _Partition(expected=start)

    def revoke(self, partition: int) -> list[Flush[T]]:
        """The partition is no longer ours: its last flush (write it now), and forget it."""
        state = self._partitions.pop(partition, None)
        return [] if state is None else self._take(partition, state, "revoke")

    def add(self, partition: int, records: Iterable[KafkaRecord], now: float) -> list[Flush[T]]:
        """Take fetched records of one partition (ascending offsets); the flushes they force."""
        flushes: list[Flush[T]] = []
        for record in records:
            state = self._partitions.get(partition)
            if state is None or record.offset < state.expected:
                self.stats.stale_records += 1
                continue
            state.expected = record.offset + 1
            self._add(partition, state, record, now, flushes)
        return flushes

    def due(self, now: float) -> list[Flush[T]]:
        """Flushes of buffers whose oldest row has waited long enough, or that hold no row."""
        flushes: list[Flush[T]] = []
        for partition, state in self._partitions.items():
            buffer = state.buffer
            if buffer.rows and due(self.policy, buffer.stats, now):
                flushes.extend(self._take(partition, state, "age"))
            elif not buffer.rows:
                flushes.extend(self._take(partition, state, "skipped"))
        return flushes

    def drain(self) -> list[Flush[T]]:
        """Every buffer's flush (the sink is stopping); the partitions stay assigned."""
        return [f for p, state in self._partitions.items() for f in self._take(p, state, "stop")]

    def written(self, flush: Flush[T], files: int) -> None:
        """Every file of ``flush`` (``files`` of them) is durable: its ids join the lake index."""
        self.stats.rows_written += len(flush.rows)
        self.stats.files_written += files
        state = self._partitions.get(flush.partition)
        if state is None:
            return
        state.unwritten = [f for f in state.unwritten if f is not flush]
        for _, item in flush.rows:
            state.ids.add(day_of(self.dataset.event_time(item)), self.dataset.identity(item))

    def _add(
        self, partition: int, state: _Partition[T], record: KafkaRecord, now: float, flushes: list[Flush[T]]
    ) -> None:
        try:
            item = self.dataset.decode(record)
        except BadRecord as exc:
            self.stats.bad_records += 1
            log.error("%s p%d@%d skipped: %s", self.dataset.name, partition, record.offset, exc)
            state.buffer.last_offset = record.offset
            return
        event_time = self.dataset.event_time(item)
        identity = self.dataset.identity(item)
        if self._repeated(partition, state, identity, day_of(event_time)):
            # The first copy is in the lake or on its way: an upstream stage repeated it, or
            # the sink reads it again after a crash or a failed commit.
            self.stats.repeated_records += 1
            state.buffer.last_offset = record.offset
            return
        if cut_before(self.policy, state.buffer.stats, event_time):
            flushes.extend(self._take(partition, state, "span"))
        buffer = state.buffer
        buffer.rows.append((record.offset, item))
        buffer.identities.add(identity)
        buffer.stats.add(len(record.value or b""), event_time, now)
        buffer.last_offset = record.offset
        reason = full(self.policy, buffer.stats)
        if reason is not None:
            flushes.extend(self._take(partition, state, reason))

    def _repeated(self, partition: int, state: _Partition[T], identity: str, day: str) -> bool:
        """Whether the identity is buffered, handed out in an unwritten flush, or in the lake."""
        if identity in state.buffer.identities or any(identity in f.identities for f in state.unwritten):
            return True
        if not state.ids.knows(day):
            # No file of this partition is written while the ids are read: the caller writes
            # flushes only between calls, and an unwritten flush's ids are checked above.
            state.ids.put(day, self.load_ids(partition, day))
        return state.ids.holds(day, identity)

    def _take(self, partition: int, state: _Partition[T], cause: FlushCause) -> list[Flush[T]]:
        """Empty the partition's buffer into a flush (none if it met no offset)."""
        buffer, state.buffer = state.buffer, _Buffer()
        if buffer.last_offset < 0:
            return []
        flush = Flush(partition, buffer.rows, buffer.last_offset + 1, cause, frozenset(buffer.identities))
        if flush.rows:
            state.unwritten.append(flush)
        return [flush]
