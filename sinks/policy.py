"""When the sink cuts a partition's buffer into files: pure rules, no clock of their own.

A buffer is written when it reaches ``max_rows`` rows or ``max_bytes`` bytes of record
values, when the next item would stretch its event-time span past ``max_span``, or when its
oldest item has waited ``flush_seconds``. Under a trickle only the last rule fires, so a
partition gets at most one file per ``flush_seconds`` (and per date it crosses), however
few events arrive: latency is bounded and the file count grows with time, not with events.
``spendstream compact`` later merges a day's small files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from spendstream.settings import Settings

FlushReason = Literal["rows", "bytes", "span", "age"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_SPAN = timedelta(hours=1)


@dataclass(frozen=True)
class SinkPolicy:
    """Rotation limits of one sink (per partition buffer)."""

    max_rows: int = 100_000
    """Rows per file at most (SPENDSTREAM_SINK_MAX_ROWS)."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Bytes of Kafka record values buffered per file at most, a proxy for memory and file size
    (SPENDSTREAM_SINK_MAX_BYTES)."""
    max_span: timedelta = DEFAULT_MAX_SPAN
    """Event-time span per file at most, so a replay of history does not glue hours together
    (SPENDSTREAM_SINK_MAX_SPAN_SECONDS)."""
    flush_seconds: float = 2.0
    """Longest wait of a buffered item before it is written (SPENDSTREAM_SINK_FLUSH_SECONDS)."""

    def __post_init__(self) -> None:
        if (
            self.max_rows < 1
            or self.max_bytes < 1
            or self.flush_seconds <= 0
            or self.max_span <= timedelta(0)
        ):
            raise ValueError("sink limits must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> SinkPolicy:
        return cls(
            max_rows=settings.sink_max_rows,
            max_bytes=settings.sink_max_bytes,
            max_span=timedelta(seconds=settings.sink_max_span_seconds),
            flush_seconds=settings.sink_flush_seconds,
        )


@dataclass
class BufferStats:
    """What the policy needs to know about a buffer (kept by the sink, updated per item)."""

    rows: int = 0
    bytes: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    opened_at: float = 0.0

    def add(self, size: int, event_time: datetime, now: float) -> None:
        if self.rows == 0:
            self.opened_at = now
            self.first_time = self.last_time = event_time
        else:
            assert self.first_time is not None and self.last_time is not None
            self.first_time = min(self.first_time, event_time)
            self.last_time = max(self.last_time, event_time)
        self.rows += 1
        self.bytes += size


def cut_before(policy: SinkPolicy, stats: BufferStats, event_time: datetime) -> bool:
    """Would adding an item at ``event_time`` stretch the buffer's span past the limit?"""
    if stats.rows == 0 or stats.first_time is None or stats.last_time is None:
        return False
    low, high = min(stats.first_time, event_time), max(stats.last_time, event_time)
    return high - low > policy.max_span


def full(policy: SinkPolicy, stats: BufferStats) -> FlushReason | None:
    """Why the buffer must be written now that it holds what it holds, if it must."""
    if stats.rows >= policy.max_rows:
        return "rows"
    if stats.bytes >= policy.max_bytes:
        return "bytes"
    return None


def due(policy: SinkPolicy, stats: BufferStats, now: float) -> FlushReason | None:
    """Why the buffer must be written at time ``now`` (monotonic seconds), if it must."""
    if stats.rows == 0:
        return None
    return full(policy, stats) or ("age" if now - stats.opened_at >= policy.flush_seconds else None)
