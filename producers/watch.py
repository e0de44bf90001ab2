"""Follow JSONL files as they grow and publish each new complete line once it is there.

Every poll walks the watched folders for ``*.jsonl`` (so subagent files such as
``subagents/agent-*.jsonl`` are found as they appear), reads each file from where the
last save left it, publishes complete lines only (a last line without its newline is
still being written), then flushes the shipper and saves the positions atomically.

With packing on, the complete lines one pass reads from a file are packed (a backlog
goes out in few records). That adds no latency: every line of a pack was already on
disk when the pass read it, and the pack is sent when the pass leaves the file.

A file is a *generation*: its inode plus the fingerprint of its first line (part of the
stream id). A file that shrank, got another inode or another first line is a new
generation, read from the start as a new stream. A file that disappeared is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from producers.emit import Emitter, file_stream_id
from producers.formats import detect_file_format
from producers.positions import FilePosition, PositionStore
from producers.shipper import NotDurable
from producers.spool import SpoolError, SpoolFull

log = logging.getLogger(__name__)

_MAX_LINES_PER_FILE_PER_POLL = 20_000


@dataclass(frozen=True)
class WatchRoot:
    """A folder to follow and the format of its files (``auto``: detect per file)."""

    path: Path
    fmt: str


def iter_jsonl(root: Path) -> Iterator[Path]:
    """``*.jsonl`` files under a folder (or the file itself), in a stable order."""
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".jsonl"):
                yield Path(folder) / name


def _open(path: str) -> BinaryIO | None:
    try:
        return Path(path).open("rb")
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        return None


def _vanished(paths: list[str], seen: set[str]) -> list[str]:
    return [path for path in paths if path not in seen and not Path(path).exists()]


def _first_line(handle: BinaryIO) -> bytes | None:
    handle.seek(0)
    first = handle.readline()
    return first.rstrip(b"\r\n") if first.endswith(b"\n") else None


class Watcher:
    """One pass at a time over the watched folders; positions live in ``store``."""

    def __init__(self, emitter: Emitter, store: PositionStore, roots: list[WatchRoot]) -> None:
        self.emitter = emitter
        self.store = store
        self.roots = roots

    def _generation(self, path: str, fmt: str, handle: BinaryIO) -> FilePosition | None:
        """The file's saved position if it is still the same file, else a fresh one."""
        stat = os.fstat(handle.fileno())
        saved = self.store.get(path)
        if saved is not None and saved.same_file(stat) and stat.st_size == saved.offset:
            return saved  # unchanged: skip the first-line check
        first = _first_line(handle)
        if first is None:
            return None  # no complete line yet
        stream_id = file_stream_id(self.emitter.origin.runner_id, path, first)
        if saved is not None and saved.same_file(stat) and saved.stream_id == stream_id:
            return saved
        if saved is not None:
            log.info("%s was truncated or replaced: reading it again as a new stream", path)
        fmt = detect_file_format(path, first, fmt)
        return FilePosition(stat.st_dev, stat.st_ino, stream_id, fmt, 0, 0)

    async def _tail(self, path: str, fmt: str) -> tuple[int, FilePosition | None]:
        """Publish the file's new complete lines; returns (lines, position to save)."""
        handle = _open(path)
        if handle is None:
            return 0, None
        with handle:
            position = self._generation(path, fmt, handle)
            if position is None or os.fstat(handle.fileno()).st_size == position.offset:
                return 0, position
            handle.seek(position.offset)
            try:
                return await self._read_new_lines(handle, position)
            except BaseException:
                # The next pass reads these lines again from the saved position: a pack left
                # open would go out later, ahead of lines it must follow.
                self.emitter.discard_pack()
                raise

    async def _read_new_lines(self, handle: BinaryIO, position: FilePosition) -> tuple[int, FilePosition]:
        offset, number, published = position.offset, position.line, 0
        while published < _MAX_LINES_PER_FILE_PER_POLL:
            raw = handle.readline()
            if not raw.endswith(b"\n"):
                break  # end of file, or a last line still being written
            offset += len(raw)
            number += 1
            line = raw.rstrip(b"\r\n")
            if line.strip():
                await self.emitter.emit(position.fmt, position.stream_id, number, line)
                published += 1
        await self.emitter.flush_pack()
        return published, replace(position, offset=offset, line=number)

    async def poll_once(self) -> int:
        """One pass; returns how many lines it published (positions saved once durable)."""
        updates: dict[str, FilePosition] = {}
        seen: set[str] = set()
        published = 0
        for root in self.roots:
            for file in iter_jsonl(root.path):
                path = str(file.resolve())
                if path in seen:
                    continue
                seen.add(path)
                count, position = await self._tail(path, root.fmt)
                published += count
                if position is not None and position != self.store.get(path):
                    updates[path] = position
        gone = _vanished(self.store.paths(), seen)
        if updates:
            await self.emitter.shipper.flush()
        for path, position in updates.items():
            self.store.set(path, position)
        for path in gone:
            self.store.forget(path)
        if updates or gone:
            self.store.save()
        return published


async def run_watch(watcher: Watcher, stop: asyncio.Event, poll_seconds: float) -> None:
    """Poll until ``stop`` is set; a full spool pauses reading (the files keep the lines)."""
    while not stop.is_set():
        try:
            published = await watcher.poll_once()
        except (SpoolFull, SpoolError, NotDurable) as exc:
            log.error("cannot keep up: %s; positions not advanced, retrying", exc)
            published = 0
        if published == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
