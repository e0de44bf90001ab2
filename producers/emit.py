"""Turn source lines into raw-topic records: redact, size-check, pack, describe (headers).

Each line is redacted and size-checked on its own; with packing on (producers/packing.py)
consecutive lines of one stream then share one record (``ss-lines``, schemas/packing.py),
otherwise each line is its own record. Keys and headers come from the contract's one
encoder (schemas/raw.py).

Stream ids (the record key) are stable so that re-publishing a line is recognised:

- a file: ``<runner>:<absolute path>#<16 hex of sha256(first line)>``; the fingerprint
  makes a file that was truncated or replaced by another a new stream, because the
  worker drops positions at or below a stream's high-water mark;
- a wrapped run: ``<runner>:run:<scope id>``; standard input: ``<runner>:stdin:<uuid>``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from producers.auth import AuthEvidence
from producers.held import oversize_marker
from producers.lineage import Scope
from producers.packing import NO_PACKING, Pack, Packer, PackLimits
from producers.records import OutRecord
from producers.redact import is_known, redact_line
from producers.shipper import Shipper
from schemas import packing
from schemas.raw import H_POS, H_TS, encode_headers, format_timestamp, record_key
from schemas.sources.base import LineContext

log = logging.getLogger(__name__)


def file_stream_id(runner_id: str, path: str | Path, first_line: bytes) -> str:
    fingerprint = hashlib.sha256(first_line).hexdigest()[:16]
    return f"{runner_id}:{Path(path).resolve()}#{fingerprint}"


def run_stream_id(runner_id: str, scope_id: str) -> str:
    return f"{runner_id}:run:{scope_id}"


def stdin_stream_id(runner_id: str) -> str:
    # Standard input has no stable name: each invocation is its own stream.
    return f"{runner_id}:stdin:{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Origin:
    """Who publishes: the runner, the scope its lines belong to, labels, and the content rule."""

    runner_id: str
    scope: Scope = field(default_factory=lambda: Scope(None))
    labels: Mapping[str, str] = field(default_factory=dict)
    keep_content: bool = False
    auth: AuthEvidence | None = None  # sent as ss-auth / ss-auth-from (producers/auth.py)


@dataclass
class EmitStats:
    lines: int = 0
    records: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    unreadable: int = 0
    oversize: int = 0
    unknown_format: int = 0


class Emitter:
    """Builds records for one process and hands them to its shipper."""

    def __init__(
        self, shipper: Shipper, origin: Origin, *, max_record_bytes: int, packing: PackLimits = NO_PACKING
    ) -> None:
        self.shipper = shipper
        self.origin = origin
        self.max_record_bytes = max_record_bytes
        # A pack is one record: it must fit where a single line fits.
        limit = min(packing.max_bytes, max_record_bytes)
        self._packer = Packer(PackLimits(packing.max_lines, limit)) if packing.enabled else None
        self.stats = EmitStats()
        self._warned: set[str] = set()
        self._templates: dict[tuple[str, str], tuple[bytes, list[tuple[str, bytes]]]] = {}

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def _value(self, fmt: str, line: bytes) -> bytes:
        redacted = redact_line(line, fmt, keep_content=self.origin.keep_content)
        if not redacted.known_format:
            self.stats.unknown_format += 1
            self._warn_once(f"format:{fmt}", "format %r is unknown: its lines are published as they are", fmt)
        if redacted.unreadable:
            self.stats.unreadable += 1
            self._warn_once(f"unreadable:{fmt}", "a %s line is not a JSON object: a marker is published", fmt)
        value = redacted.value
        if len(value) > self.max_record_bytes and self.origin.keep_content and is_known(fmt):
            self._warn_once("shrink", "a line too large to publish whole was published redacted")
            value = redact_line(line, fmt).value
        return value

    def _describe(self, fmt: str, stream_id: str, position: int) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The record key and contract headers (schemas/raw.py; ``ss-lines`` apart).

        They are encoded once per stream: only the position and the time change per record.
        """
        now = datetime.now(UTC)
        cached = self._templates.get((fmt, stream_id))
        if cached is None:
            context = LineContext(
                source=fmt,
                runner_id=self.origin.runner_id,
                stream_id=stream_id,
                position=0,
                published_at=now,
                lineage=self.origin.scope.lineage,
                session_hint=self.origin.scope.session,
                labels=self.origin.labels,
                auth_mode=self.origin.auth.mode if self.origin.auth is not None else None,
                auth_declared=self.origin.auth is not None and self.origin.auth.declared,
            )
            cached = record_key(context), encode_headers(context)
            if len(self._templates) > 10_000:
                self._templates.clear()
            self._templates[(fmt, stream_id)] = cached
        key, template = cached
        stamp = format_timestamp(now).encode("ascii")
        position_text = str(position).encode("ascii")
        return key, [
            (name, position_text if name == H_POS else stamp if name == H_TS else value)
            for name, value in template
        ]

    async def emit(self, fmt: str, stream_id: str, position: int, line: bytes) -> None:
        """Publish one line (no newline) at its 1-based position in its stream.

        With packing on, the line may wait in an open pack: call :meth:`flush_pack` at the
        end of a file and before flushing the shipper.
        """
        value = self._value(fmt, line)
        if len(value) > self.max_record_bytes:
            self.stats.oversize += 1
            key, headers = self._describe(fmt, stream_id, position)
            held = OutRecord(key, line, tuple(headers))
            self.shipper.held.keep(held, f"{len(value)} bytes > max_record_bytes")
            value = oversize_marker(len(value), self.max_record_bytes)
        self.stats.lines += 1
        self.stats.bytes_in += len(line)
        self.stats.bytes_out += len(value)
        if self._packer is None:
            await self._put(fmt, stream_id, position, [value])
            return
        for pack in self._packer.offer(fmt, stream_id, position, value):
            await self._put_pack(pack)

    async def flush_pack(self) -> None:
        """Send the open pack, if any (its lines are complete; no more will join it)."""
        pack = self._packer.take() if self._packer is not None else None
        if pack is not None:
            await self._put_pack(pack)

    def discard_pack(self) -> None:
        """Drop the open pack (its lines were not accepted; the caller will read them again)."""
        if self._packer is not None:
            self._packer.take()

    async def _put_pack(self, pack: Pack) -> None:
        await self._put(pack.fmt, pack.stream_id, pack.first, pack.values)

    async def _put(self, fmt: str, stream_id: str, position: int, values: list[bytes]) -> None:
        self.stats.records += 1
        value, count_headers = packing.pack(values)
        key, headers = self._describe(fmt, stream_id, position)
        await self.shipper.put(OutRecord(key, value, tuple(headers + count_headers)))
