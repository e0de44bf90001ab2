"""How far ``watch`` got in each file, kept across restarts.

One JSON file (``<state_dir>/watch/positions.json``), replaced atomically (temp file,
fsync, rename, fsync of the folder), and saved only after the lines it covers are
durable (acknowledged or spooled). A crash therefore loses no line; at worst it
re-publishes lines after the last save, which carry the same (stream, position) and are
dropped by the worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

VERSION = 1


class StoreLocked(RuntimeError):
    """Another ``watch`` uses the same state folder."""


@dataclass(frozen=True, slots=True)
class FilePosition:
    """A file generation (device, inode, first-line stream id) and what of it is published."""

    dev: int
    ino: int
    stream_id: str
    fmt: str
    offset: int  # bytes up to the end of the last published line
    line: int  # that line's 1-based number

    def same_file(self, stat: os.stat_result) -> bool:
        """Still the file we read: same inode, and not shorter than what we published."""
        return stat.st_dev == self.dev and stat.st_ino == self.ino and stat.st_size >= self.offset


class PositionStore:
    """Positions of every followed file; ``save`` is atomic."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "positions.json"
        self._positions: dict[str, FilePosition] = {}
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """Take the folder for this process, so two watchers never share positions."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / "watch.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise StoreLocked(f"another watch is using {self.folder}") from exc
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self) -> None:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        if raw.get("version") != VERSION:
            raise ValueError(f"{self.path}: unsupported positions version {raw.get('version')!r}")
        self._positions = {path: FilePosition(**entry) for path, entry in raw["files"].items()}

    def get(self, path: str) -> FilePosition | None:
        return self._positions.get(path)

    def set(self, path: str, position: FilePosition) -> None:
        self._positions[path] = position

    def forget(self, path: str) -> None:
        self._positions.pop(path, None)

    def paths(self) -> list[str]:
        return list(self._positions)

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps(
            {"version": VERSION, "files": {p: asdict(pos) for p, pos in sorted(self._positions.items())}}
        )
        tmp = self.path.with_name(f".positions.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
