"""One outgoing raw-topic record, and its byte encoding in spool segments.

A spooled record is ``u32 body length | u32 crc32(body) | body``; the body is the key,
the value and the headers, each length-prefixed. The CRC tells a record torn by a crash
(or damaged on disk) from a whole one, so a reader never sends half a line.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from schemas.packing import H_COUNT

FRAME = struct.Struct(">II")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
MAX_BODY = 1 << 30


class CorruptRecord(ValueError):
    """A complete frame whose checksum or layout is wrong (not a torn tail)."""


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record for the raw topic: key = stream id, value = one (redacted) line or a pack."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    size: int = field(init=False, compare=False, repr=False)
    lines: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        size = len(self.key) + len(self.value) + sum(len(k) + len(v) for k, v in self.headers)
        object.__setattr__(self, "size", size)
        lines = next((v for k, v in self.headers if k == H_COUNT), b"1")
        object.__setattr__(self, "lines", int(lines) if lines.isdigit() else 1)


def encode(record: OutRecord) -> bytes:
    parts = [_U16.pack(len(record.key)), record.key, _U32.pack(len(record.value)), record.value]
    parts.append(_U16.pack(len(record.headers)))
    for name, value in record.headers:
        raw = name.encode("utf-8")
        parts += [_U16.pack(len(raw)), raw, _U32.pack(len(value)), value]
    body = b"".join(parts)
    return FRAME.pack(len(body), zlib.crc32(body)) + body


def _decode_body(body: bytes) -> OutRecord:
    try:
        pos = 0
        (n,) = _U16.unpack_from(body, pos)
        key = body[pos + 2 : pos + 2 + n]
        pos += 2 + n
        (n,) = _U32.unpack_from(body, pos)
        value = body[pos + 4 : pos + 4 + n]
        pos += 4 + n
        (count,) = _U16.unpack_from(body, pos)
        pos += 2
        headers = []
        for _ in range(count):
            (n,) = _U16.unpack_from(body, pos)
            name = body[pos + 2 : pos + 2 + n].decode("utf-8")
            pos += 2 + n
            (n,) = _U32.unpack_from(body, pos)
            headers.append((name, body[pos + 4 : pos + 4 + n]))
            pos += 4 + n
    except (struct.error, UnicodeDecodeError) as exc:
        raise CorruptRecord("record body does not decode") from exc
    if pos != len(body):
        raise CorruptRecord("record body has trailing bytes")
    return OutRecord(key, value, tuple(headers))


def decode_frames(data: bytes) -> tuple[list[tuple[OutRecord, int]], int]:
    """Whole records at the start of ``data`` as (record, end offset), and the bytes used.

    Stops at a torn tail (an incomplete frame); raises CorruptRecord for a bad checksum.
    """
    records: list[tuple[OutRecord, int]] = []
    pos = 0
    while pos + FRAME.size <= len(data):
        length, crc = FRAME.unpack_from(data, pos)
        if length > MAX_BODY:
            raise CorruptRecord("record length out of range")
        end = pos + FRAME.size + length
        if end > len(data):
            break
        body = data[pos + FRAME.size : end]
        if zlib.crc32(body) != crc:
            raise CorruptRecord("record checksum mismatch")
        records.append((_decode_body(body), end))
        pos = end
    return records, pos
