"""The raw topic's record contract, shared by producers (write) and the worker (read).

Value: one CLI output line, byte for byte (no trailing newline); or, with ``ss-lines: N``,
N consecutive lines of one stream joined by ``\n`` (a packed record: backfills and
catching-up watchers pack lines so the worker pays its per-record cost once per pack).
Key: the stream id, so every line of one stream lands in one partition, in order.
Headers (all UTF-8 text):

- ``ss-format``   the source format (``claude-json``, ``claude-transcript`` ...)
- ``ss-runner``   runner id (default: the runner's hostname)
- ``ss-stream``   stable id of the stream the line came from (runner + file path, or a
                  run id); with ``ss-pos`` it names a line, so a re-published line is
                  recognised as the same line
- ``ss-pos``      the line's position in its stream (1-based line number); in a packed
                  record, the first line's position (line i is at ``ss-pos + i``)
- ``ss-lines``    number of lines in a packed record (absent: 1)
- ``ss-ts``       producer timestamp, ISO-8601 UTC, used when the line has no time
- ``ss-lineage``  ancestor scope ids, root first, comma separated (may be empty)
- ``ss-session``  the scope id the runner assigned to this run, when it did
- ``ss-label-<k>`` free labels (task id, pipeline ...)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.sources.base import BadLine, LineContext

H_FORMAT = "ss-format"
H_RUNNER = "ss-runner"
H_STREAM = "ss-stream"
H_POS = "ss-pos"
H_TS = "ss-ts"
H_LINEAGE = "ss-lineage"
H_SESSION = "ss-session"
H_LINES = "ss-lines"
LABEL_PREFIX = "ss-label-"

MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_PACKED_LINES = 10_000
# Far beyond any line number, and small enough that every line of a packed record has a
# position that fits the 64-bit integers of the worker's JSON state and envelopes (orjson).
MAX_POSITION = 2**62


@dataclass(frozen=True, slots=True)
class RawLineMeta:
    """Producer-side description of one line, turned into record headers."""

    source: str
    runner_id: str
    stream_id: str
    position: int
    published_at: datetime
    lineage: tuple[str, ...] = ()
    session_hint: str | None = None
    labels: Mapping[str, str] | None = None
    line_count: int = 1

    def headers(self) -> list[tuple[str, bytes]]:
        items = [
            (H_FORMAT, self.source),
            (H_RUNNER, self.runner_id),
            (H_STREAM, self.stream_id),
            (H_POS, str(self.position)),
            (H_TS, self.published_at.astimezone(UTC).isoformat(timespec="microseconds")),
            (H_LINEAGE, ",".join(self.lineage)),
        ]
        if self.session_hint:
            items.append((H_SESSION, self.session_hint))
        if self.line_count != 1:
            items.append((H_LINES, str(self.line_count)))
        for key, value in sorted((self.labels or {}).items()):
            items.append((LABEL_PREFIX + key, value))
        return [(k, v.encode("utf-8")) for k, v in items]


def pack_lines(lines: Iterable[bytes]) -> bytes:
    """The value of a packed record (lines must not contain ``\n``)."""
    return b"\n".join(lines)


def unpack_lines(value: bytes, count: int) -> list[bytes]:
    """The lines of a record with ``ss-lines: count``; raises BadLine when they disagree."""
    if count == 1:
        return [value]
    lines = value.split(b"\n")
    if len(lines) != count:
        raise BadLine(f"packed record holds {len(lines)} lines, header {H_LINES} says {count}")
    return lines


def line_count(headers: Iterable[tuple[str, bytes]]) -> int:
    """``ss-lines`` of a raw record (1 when absent); raises BadLine when invalid."""
    for key, raw in headers:
        if key == H_LINES:
            if raw is None:  # Kafka allows a header without a value
                raise BadLine(f"header {H_LINES} has no value")
            try:
                count = int(raw.decode("ascii"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise BadLine(f"header {H_LINES} is not an integer") from exc
            if not 1 <= count <= MAX_PACKED_LINES:
                raise BadLine(f"header {H_LINES} out of range 1..{MAX_PACKED_LINES}")
            return count
    return 1


def parse_lineage(text: str) -> tuple[str, ...]:
    """``"root,child"`` -> ``("root", "child")``; blanks dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def context_from_headers(headers: Iterable[tuple[str, bytes]]) -> LineContext:
    """Validate a raw record's headers into a LineContext, or raise BadLine."""
    values: dict[str, str] = {}
    labels: dict[str, str] = {}
    for key, raw in headers:
        try:
            text = raw.decode("utf-8") if raw is not None else ""
        except UnicodeDecodeError as exc:
            raise BadLine(f"header {key} is not UTF-8") from exc
        if key.startswith(LABEL_PREFIX):
            labels[key[len(LABEL_PREFIX) :]] = text
        else:
            values[key] = text
    for required in (H_FORMAT, H_RUNNER, H_STREAM, H_POS, H_TS):
        if not values.get(required):
            raise BadLine(f"missing header {required}")
    try:
        position = int(values[H_POS])
    except ValueError as exc:
        raise BadLine(f"header {H_POS} is not an integer") from exc
    if not 0 <= position <= MAX_POSITION:
        raise BadLine(f"header {H_POS} out of range 0..{MAX_POSITION}")
    try:
        published_at = datetime.fromisoformat(values[H_TS])
    except ValueError as exc:
        raise BadLine(f"header {H_TS} is not ISO-8601") from exc
    if published_at.tzinfo is None:
        raise BadLine(f"header {H_TS} has no timezone")
    try:
        published_at = published_at.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadLine(f"header {H_TS} out of range") from exc
    return LineContext(
        source=values[H_FORMAT],
        runner_id=values[H_RUNNER],
        stream_id=values[H_STREAM],
        position=position,
        published_at=published_at,
        lineage=parse_lineage(values.get(H_LINEAGE, "")),
        session_hint=values.get(H_SESSION) or None,
        labels=labels,
    )
