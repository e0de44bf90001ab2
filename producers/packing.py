"""Packing consecutive lines of one stream into one raw record (``ss-lines``, schemas/packing.py).

Faust pays about 0.2 ms per record whatever the record holds, so a backfill sends many
lines per record. A pack is always *consecutive* positions of *one* stream in *one*
format: line i of a pack is at ``ss-pos + i``. A gap (a blank line keeps its number and
is skipped), another stream, a full pack (``max_lines``) or a value that would pass
``max_bytes`` closes the current pack. Boundaries depend only on the lines and the
limits, so re-publishing a file gives the same positions; the worker recognises
re-published lines one by one whatever the packing was.

Redaction and the oversize rule run per line before a line joins a pack (producers/emit.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from producers.records import OutRecord
from schemas import packing
from schemas.raw import H_POS, MAX_PACKED_LINES

DEFAULT_PACK_LINES = 500
DEFAULT_PACK_BYTES = 512 * 1024


@dataclass(frozen=True)
class PackLimits:
    """How large a packed record may grow; ``max_lines`` 1 means one line per record."""

    max_lines: int = 1
    max_bytes: int = DEFAULT_PACK_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.max_lines <= MAX_PACKED_LINES:
            raise ValueError(f"pack lines must be 1..{MAX_PACKED_LINES}, got {self.max_lines}")
        if self.max_bytes < 1:
            raise ValueError(f"pack bytes must be positive, got {self.max_bytes}")

    @property
    def enabled(self) -> bool:
        return self.max_lines > 1


NO_PACKING = PackLimits()


@dataclass
class Pack:
    """Lines waiting to leave as one record: ``values[i]`` is at ``first + i``."""

    fmt: str
    stream_id: str
    first: int
    values: list[bytes] = field(default_factory=list)
    size: int = 0  # bytes of the packed value: the lines plus one separator between two

    @property
    def next_position(self) -> int:
        return self.first + len(self.values)

    def add(self, value: bytes) -> None:
        self.size += len(value) + (1 if self.values else 0)
        self.values.append(value)


class Packer:
    """The open pack of one emitter; callers send what ``offer`` and ``take`` hand back."""

    def __init__(self, limits: PackLimits) -> None:
        self.limits = limits
        self._open: Pack | None = None

    def offer(self, fmt: str, stream_id: str, position: int, value: bytes) -> list[Pack]:
        """Add one line; returns the packs closed by it (zero, one or two), in order."""
        closed: list[Pack] = []
        current = self._open
        if current is not None and not self._joins(current, fmt, stream_id, position, value):
            closed.append(current)
            current = None
        if current is None:
            current = Pack(fmt, stream_id, position)
        current.add(value)
        self._open = current
        if (
            b"\n" in value
            or len(current.values) >= self.limits.max_lines
            or current.size >= self.limits.max_bytes
        ):
            closed.append(current)  # a value with a newline can only travel alone
            self._open = None
        return closed

    def take(self) -> Pack | None:
        """The open pack, closed now (end of a file, or before a flush)."""
        current, self._open = self._open, None
        return current

    def _joins(self, pack: Pack, fmt: str, stream_id: str, position: int, value: bytes) -> bool:
        return (
            pack.fmt == fmt
            and pack.stream_id == stream_id
            and pack.next_position == position
            and b"\n" not in value
            and pack.size + 1 + len(value) <= self.limits.max_bytes
        )


def split_packed(record: OutRecord) -> list[OutRecord]:
    """A packed record as one record per line (same headers, own ``ss-pos``, no ``ss-lines``).

    Used when the broker refuses a pack as too large: its lines then go one by one, so only
    a line that is too large by itself is held.
    """
    values = packing.unpack(record.value, record.headers, max_items=MAX_PACKED_LINES)
    if len(values) == 1:
        return [record]
    first = int(dict(record.headers)[H_POS])
    singles = []
    for offset, value in enumerate(values):
        position = str(first + offset).encode("ascii")
        headers = tuple(
            (name, position if name == H_POS else raw)
            for name, raw in record.headers
            if name != packing.H_COUNT
        )
        singles.append(OutRecord(record.key, value, headers))
    return singles
