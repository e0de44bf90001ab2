"""Publish files, folders (backfill) or standard input to the raw topic.

Consecutive lines of one file are packed into records of up to ``pack_max_lines`` lines
and ``pack_max_bytes`` (producers/packing.py), each line redacted and size-checked on its
own first. Standard input is packed only when it is a regular file: a pipe may be a
live command's output, whose lines must not wait for a pack to fill.

Folders are walked for ``*.jsonl`` and ``*.json`` in a stable order. Each line keeps its
1-based line number as its position (blank lines keep their number and are skipped), so
publishing the same file twice is harmless. A ``.json`` file holding one pretty-printed
document (gemini) is published as one compact line at position 1. A last line without
its newline is published only if it is a whole JSON object: anything else is still
being written, and publishing it would take the position that the finished line needs.
"""

from __future__ import annotations

import itertools
import logging
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from config.settings import Settings
from producers.auth import AuthEvidence
from producers.emit import Emitter, Origin, file_stream_id, stdin_stream_id
from producers.formats import AUTO, detect_file_format, detect_line_format
from producers.lineage import Scope
from producers.link import make_producer
from producers.packing import PackLimits
from producers.progress import Progress
from producers.shipper import Shipper

__all__ = ["PublishRequest", "PublishSummary", "make_producer", "publish"]

log = logging.getLogger(__name__)

_MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class PublishRequest:
    """What to publish and how to describe it; ``paths`` of ``-`` means standard input."""

    paths: tuple[str, ...]
    source: str = AUTO
    lineage: tuple[str, ...] = ()
    session_hint: str | None = None
    labels: Mapping[str, str] | None = None
    keep_content: bool = False
    progress: bool = False
    packing: PackLimits | None = None  # None: the settings' pack_max_lines / pack_max_bytes
    auth: AuthEvidence | None = None  # only what the user declared (producers/auth.py)


@dataclass
class PublishSummary:
    files: int = 0
    lines: int = 0
    bytes: int = 0
    skipped_blank: int = 0
    skipped_incomplete: int = 0
    spooled: int = 0
    held: int = 0
    unreadable: int = 0
    elapsed_s: float = 0.0
    formats: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        rate = self.lines / self.elapsed_s if self.elapsed_s > 0 else 0.0
        text = (
            f"published {self.lines} lines ({self.bytes} bytes) from {self.files} file(s) "
            f"in {self.elapsed_s:.1f}s ({rate:,.0f} lines/s)"
        )
        if self.formats:
            text += "; formats: " + ", ".join(f"{k} {v}" for k, v in sorted(self.formats.items()))
        extras = [
            (self.spooled, "left in the spool for later delivery (broker unreachable)"),
            (self.held, "held locally as too large (see <spool_dir>/held)"),
            (self.unreadable, "not JSON objects (published as markers)"),
            (self.skipped_incomplete, "incomplete last lines skipped"),
        ]
        return text + "".join(f"; {n} {what}" for n, what in extras if n)


def expand_paths(paths: tuple[str, ...]) -> Iterator[str]:
    """Files to publish: ``-`` as is, folders walked, missing paths raise FileNotFoundError."""
    for path in paths:
        if path == "-" or Path(path).is_file():
            yield path
        elif Path(path).is_dir():
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                yield from (
                    str(Path(folder) / name) for name in sorted(files) if name.endswith((".jsonl", ".json"))
                )
        else:
            raise FileNotFoundError(2, "No such file or directory", path)


def _whole_document(path: str) -> bytes | None:
    """A ``.json`` file that is one JSON object over several lines, compacted; else None."""
    file = Path(path)
    if file.suffix != ".json" or file.stat().st_size > _MAX_DOCUMENT_BYTES:
        return None
    data = file.read_bytes()
    if data.count(b"\n") <= 1:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return orjson.dumps(value) if isinstance(value, dict) else None


def _is_pipe(handle: BinaryIO) -> bool:
    try:
        return not stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
    except (OSError, ValueError):
        return True


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


async def _publish_lines(
    emitter: Emitter, handle: BinaryIO, path: str, fmt: str, summary: PublishSummary, tick: Callable[[], None]
) -> None:
    first = handle.readline()
    head = first.rstrip(b"\r\n")
    if path == "-":
        stream_id = stdin_stream_id(emitter.origin.runner_id)
        fmt = (detect_line_format(head) or AUTO) if fmt == AUTO else fmt
    else:
        stream_id = file_stream_id(emitter.origin.runner_id, path, head)
        fmt = detect_file_format(path, head, fmt)
    summary.formats[fmt] = summary.formats.get(fmt, 0) + 1
    live = path == "-" and _is_pipe(handle)
    for number, raw in enumerate(itertools.chain([first] if first else [], handle), start=1):
        line = raw.rstrip(b"\r\n")
        if not line or line.isspace():  # isspace: the set strip() removes, without a copy
            summary.skipped_blank += 1
            continue
        if not raw.endswith(b"\n") and not _is_json_object(line):
            log.warning("%s: last line %d is incomplete: skipped (still being written?)", path, number)
            summary.skipped_incomplete += 1
            continue
        await emitter.emit(fmt, stream_id, number, line)
        if live:
            await emitter.flush_pack()
        if number % 2048 == 0:
            tick()
    await emitter.flush_pack()


async def _publish_path(
    emitter: Emitter, path: str, fmt: str, summary: PublishSummary, tick: Callable[[], None]
) -> None:
    if path == "-":
        await _publish_lines(emitter, sys.stdin.buffer, path, fmt, summary, tick)
        return
    document = _whole_document(path)
    if document is not None:
        fmt = detect_file_format(path, document, fmt)
        summary.formats[fmt] = summary.formats.get(fmt, 0) + 1
        await emitter.emit(fmt, file_stream_id(emitter.origin.runner_id, path, document), 1, document)
        await emitter.flush_pack()
        return
    with Path(path).open("rb") as handle:  # noqa: ASYNC230 - sequential local reads
        await _publish_lines(emitter, handle, path, fmt, summary, tick)


async def publish(settings: Settings, request: PublishRequest) -> PublishSummary:
    """Publish every non-blank line of the given files and folders; returns what was done."""
    summary = PublishSummary()
    started = time.monotonic()
    paths = list(expand_paths(request.paths))
    origin = Origin(
        runner_id=settings.runner_id,
        scope=Scope(request.session_hint, request.lineage),
        labels=dict(request.labels or {}),
        keep_content=request.keep_content,
        auth=request.auth,
    )
    shipper = Shipper(settings)
    await shipper.start()
    packing = request.packing or PackLimits(settings.pack_max_lines, settings.pack_max_bytes)
    emitter = Emitter(shipper, origin, max_record_bytes=settings.max_record_bytes, packing=packing)
    progress = Progress(sys.stderr, enabled=request.progress)

    def tick() -> None:
        progress.update(summary.files, emitter.stats.lines, emitter.stats.bytes_in)

    try:
        for path in paths:
            await _publish_path(emitter, path, request.source, summary, tick)
            summary.files += 1
            tick()
        await shipper.flush()
        await shipper.wait_drained(settings.producer_timeout_seconds)
    finally:
        await shipper.close()
        summary.lines, summary.bytes = emitter.stats.lines, emitter.stats.bytes_in
        summary.unreadable, summary.held = emitter.stats.unreadable, shipper.stats.held
        summary.spooled = shipper.stats.left_in_spool
        summary.elapsed_s = time.monotonic() - started
    progress.finish(summary.describe())
    return summary
