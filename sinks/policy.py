"""When the sink cuts a partition's buffer into files: pure rules, no clock of their own.

A buffer becomes one file per event date (``sinks/dataset.py``). It is written when it
reaches ``max_rows`` rows or ``max_bytes`` bytes of record values, when the next item would
stretch *its date's* event-time span in the buffer past ``max_span``, or when its oldest item
has waited ``flush_seconds``. Under a trickle only the last rule fires, so a partition gets
at most one file per ``flush_seconds`` and per date it carries, however few events arrive:
latency is bounded and the file count grows with time, not with events. ``spendstream
compact`` later merges a day's small files.

The span is measured per date, not over the buffer: a backfill interleaves many dates in one
partition, and a buffer-wide span would cut it at nearly every row (one file per row or two).
A date's span can never exceed a day, so the default (86 400 s) never cuts; a lower limit
gives files of finer event-time ranges, at a price under interleaved history: a cut writes
the whole buffer, one file per date in it, so each date's files get smaller the more dates
interleave and the lower the limit is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from config.settings import Settings
from sinks.layout import day_of

FlushReason = Literal["rows", "bytes", "span", "age"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_SPAN = timedelta(days=1)


@dataclass(frozen=True)
class SinkPolicy:
    """Rotation limits of one sink (per partition buffer)."""

    max_rows: int = 100_000
    """Rows per buffer, so per file, at most (SPENDSTREAM_SINK_MAX_ROWS)."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Bytes of Kafka record values buffered at most, a proxy for memory and file size
    (SPENDSTREAM_SINK_MAX_BYTES)."""
    max_span: timedelta = DEFAULT_MAX_SPAN
    """Event-time span of one date's items in a buffer, so of one file, at most
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
    opened_at: float = 0.0
    spans: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    """Per event date (UTC, the file each item goes to), its earliest and latest event time."""

    def add(self, size: int, event_time: datetime, now: float) -> None:
        if self.rows == 0:
            self.opened_at = now
        day = day_of(event_time)
        span = self.spans.get(day)
        if span is None:
            self.spans[day] = (event_time, event_time)
        elif not span[0] <= event_time <= span[1]:
            self.spans[day] = (min(span[0], event_time), max(span[1], event_time))
        self.rows += 1
        self.bytes += size


def cut_before(policy: SinkPolicy, stats: BufferStats, event_time: datetime) -> bool:
    """Would adding an item at ``event_time`` stretch its date's span past the limit?"""
    span = stats.spans.get(day_of(event_time))
    if span is None:
        return False
    return max(span[1], event_time) - min(span[0], event_time) > policy.max_span


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
