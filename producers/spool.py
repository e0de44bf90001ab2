"""The local spool: append-only segment files holding records the broker has not acknowledged.

Layout: ``<spool_dir>/<topic>/<ns>-<pid>-<n>.seg`` (8-byte magic, then frames of
producers/records.py) and ``<segment>.ack`` (the byte offset up to which the broker has
acknowledged, replaced atomically). Segment names sort by creation time, and segments are
drained oldest first, so lines leave in the order they were spooled.

Ownership is an ``flock`` on the segment file: a writer holds its segments while it lives;
a segment nobody holds belongs to a process that ended or crashed and may be claimed by
a drainer, under ``drain.lock`` so that two drainers never split one writer's segments.
A torn last record (a crash mid-write) was never accepted from its source and is dropped;
a damaged record in the middle moves the segment to ``corrupt/`` rather than guessing.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from producers.records import FRAME, CorruptRecord, OutRecord, decode_frames, encode

log = logging.getLogger(__name__)

MAGIC = b"SSPOOL01"
SUFFIX = ".seg"


class SpoolFull(Exception):
    """Spooling this record would exceed ``spool_max_bytes``."""


class SpoolError(OSError):
    """The spool could not be written (disk full, permissions); the record was not accepted."""


@dataclass
class _Segment:
    path: Path
    fd: int
    size: int
    acked: int
    sealed: bool = False
    claimed: bool = False

    @property
    def ack_path(self) -> Path:
        return self.path.with_suffix(".ack")


@dataclass(frozen=True)
class Chunk:
    """Consecutive records of one segment, ``end`` being the offset after the last one."""

    segment: Path
    end: int
    records: list[OutRecord] = field(default_factory=list)


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_ack(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return len(MAGIC)


class Spool:
    """One topic's spool as seen by one process (not thread-safe; one event loop)."""

    def __init__(self, root: Path, topic: str, *, max_bytes: int, segment_bytes: int) -> None:
        self.dir = root / topic
        self.root = root
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._owned: list[_Segment] = []
        self._writer: _Segment | None = None
        self._drain_fd: int | None = None
        self._counter = 0
        self._other_bytes = 0
        self.refresh()  # the folder itself is created only when something is spooled

    # -- sizes -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-measure the disk used by other processes' segments (all topics)."""
        mine = {seg.path for seg in self._owned}
        total = 0
        for path in self.root.glob(f"*/*{SUFFIX}"):
            if path not in mine:
                with contextlib.suppress(FileNotFoundError):
                    total += path.stat().st_size
        self._other_bytes = total

    def disk_bytes(self) -> int:
        return self._other_bytes + sum(seg.size for seg in self._owned)

    def pending(self) -> bool:
        """Whether records this process owns still wait for the broker."""
        return any(seg.acked < seg.size for seg in self._owned)

    def foreign_segments(self) -> list[Path]:
        """Segments of this topic that another (live or ended) process wrote."""
        mine = {seg.path for seg in self._owned}
        return sorted(p for p in self.dir.glob(f"*{SUFFIX}") if p not in mine)

    # -- writing -----------------------------------------------------------------------
    def _new_segment(self) -> _Segment:
        self._counter += 1
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{time.time_ns():020d}-{os.getpid()}-{self._counter:04d}{SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _lock(fd)
        _write_all(fd, MAGIC)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        segment = _Segment(path, fd, len(MAGIC), len(MAGIC))
        self._owned.append(segment)
        return segment

    def append(self, records: Sequence[OutRecord], *, overflow_ok: bool = False) -> None:
        """Append records durably enough to survive this process (fsync: ``sync``)."""
        data = b"".join(encode(record) for record in records)
        if not data:
            return
        if self.disk_bytes() + len(data) > self.max_bytes and not overflow_ok:
            raise SpoolFull(f"spool {self.root} holds {self.disk_bytes()} of {self.max_bytes} bytes")
        try:
            if self._writer is None or self._writer.sealed:
                self._writer = self._new_segment()
            writer = self._writer
            try:
                _write_all(writer.fd, data)
            except OSError:
                os.ftruncate(writer.fd, writer.size)
                raise
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot write the spool in {self.dir}: {exc.strerror}") from exc
        writer.size += len(data)
        if writer.size >= self.segment_bytes:
            writer.sealed = True

    def sync(self) -> None:
        """fsync what this process wrote, so it survives a machine crash too."""
        if self._writer is not None:
            os.fsync(self._writer.fd)

    # -- draining ----------------------------------------------------------------------
    def claim_abandoned(self) -> bool:
        """Take the drain lock and the segments of ended writers; False if another drainer runs."""
        if not self.dir.is_dir():
            return True  # nothing was ever spooled for this topic here
        if self._drain_fd is None:
            fd = os.open(self.dir / "drain.lock", os.O_RDWR | os.O_CREAT, 0o600)
            if not _lock(fd):
                os.close(fd)
                return False
            self._drain_fd = fd
        self.adopt_abandoned()
        return True

    def adopt_abandoned(self) -> int:
        """Under the drain lock: claim segments whose writer has ended since; how many."""
        if self._drain_fd is None:
            return 0
        claimed = sum(self._claim(path) for path in self.foreign_segments())
        self._owned.sort(key=lambda seg: seg.path.name)
        if claimed:
            self.refresh()
        return claimed

    def _claim(self, path: Path) -> bool:
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        if not _lock(fd):
            os.close(fd)  # a live writer's segment: it drains its own
            return False
        size = os.fstat(fd).st_size
        if os.pread(fd, len(MAGIC), 0) != MAGIC:
            # Created but never written: the writer died before accepting anything.
            os.close(fd)
            self._delete(path)
            return False
        ack = _read_ack(path.with_suffix(".ack"))
        self._owned.append(_Segment(path, fd, size, ack, sealed=True, claimed=True))
        return True

    def release_drain_lock(self) -> None:
        """End a drain session: claimed segments not finished go back to the next drainer."""
        for seg in [s for s in self._owned if s.claimed]:
            self._owned.remove(seg)
            os.close(seg.fd)
        if self._drain_fd is not None:
            os.close(self._drain_fd)
            self._drain_fd = None

    def read_chunk(self, max_bytes: int = 1 << 20, *, claimed_only: bool = False) -> Chunk | None:
        """The oldest records not yet acknowledged, or None when everything owned is sent."""
        for seg in list(self._owned):
            if seg.acked >= seg.size or (claimed_only and not seg.claimed):
                continue
            head = os.pread(seg.fd, FRAME.size, seg.acked)
            want = max_bytes
            if len(head) == FRAME.size:
                want = max(max_bytes, FRAME.size + FRAME.unpack(head)[0])
            data = os.pread(seg.fd, min(want, seg.size - seg.acked), seg.acked)
            try:
                decoded, used = decode_frames(data)
            except CorruptRecord as exc:
                self._quarantine(seg, str(exc))
                continue
            if not decoded:
                # A torn tail: its record was never accepted from the source.
                log.warning("spool %s: dropping a torn last record (%d bytes)", seg.path.name, len(data))
                seg.size = seg.acked
                continue
            return Chunk(seg.path, seg.acked + used, [record for record, _ in decoded])
        return None

    def ack(self, chunk: Chunk) -> None:
        """Record that the broker has every record of ``chunk``; retire finished segments."""
        seg = next((s for s in self._owned if s.path == chunk.segment), None)
        if seg is None:
            return
        seg.acked = max(seg.acked, chunk.end)
        if seg.acked < seg.size:
            tmp = seg.ack_path.with_suffix(".ack.tmp")
            tmp.write_text(str(seg.acked))
            tmp.replace(seg.ack_path)
            return
        self._retire(seg)

    def _retire(self, seg: _Segment) -> None:
        self._owned.remove(seg)
        if seg is self._writer:
            self._writer = None
        self._delete(seg.path)
        os.close(seg.fd)

    def _delete(self, path: Path) -> None:
        for victim in (path, path.with_suffix(".ack")):
            with contextlib.suppress(FileNotFoundError):
                victim.unlink()

    def _quarantine(self, seg: _Segment, reason: str) -> None:
        target = self.root / "corrupt"
        target.mkdir(exist_ok=True)
        log.error("spool %s is damaged (%s); moved to %s, later segments continue", seg.path, reason, target)
        seg.path.replace(target / seg.path.name)
        self._owned.remove(seg)
        os.close(seg.fd)

    def close(self) -> None:
        """Release everything; unsent segments stay on disk for the next drainer."""
        for seg in list(self._owned):
            if seg.acked >= seg.size:
                self._retire(seg)
            else:
                os.close(seg.fd)
        self._owned.clear()
        self._writer = None
        self.release_drain_lock()
