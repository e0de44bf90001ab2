"""Lines that a nested ``spendstream run`` already published, so its parent does not again.

When a wrapped command starts a ``spendstream run`` that inherits its stdout (a shell
script orchestrating agents), the child's lines also flow through the parent's stdout,
and the parent would publish them a second time, under its own scope. To prevent that,
every run inside another one appends the digest of each line it passes through to
``<state_dir>/runs/<digest of the parent scope>.lines`` *before* writing the line out;
the parent skips any line whose digest is there. A run passes its children's lines on
too, so the claim travels up one level per run, at any depth.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

_DIGEST_CHARS = 32


def _digest(line: bytes) -> bytes:
    return hashlib.sha256(line).hexdigest()[:_DIGEST_CHARS].encode("ascii")


def claims_file(folder: Path, scope_id: str) -> Path:
    return folder / f"{hashlib.sha256(scope_id.encode('utf-8')).hexdigest()[:32]}.lines"


class ClaimWriter:
    """Appends digests of lines passed through to the parent's claims file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def claim(self, lines: Iterable[bytes]) -> None:
        data = b"".join(_digest(line) + b"\n" for line in lines if line.strip())
        if data:
            with contextlib.suppress(OSError):
                os.write(self._fd, data)

    def close(self) -> None:
        os.close(self._fd)


class ClaimReader:
    """The run's own claims file, read incrementally; removed when the run ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._seen: set[bytes] = set()

    def _refresh(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self._seen.update(data[:end].split())
        self._offset += end

    def seen(self, line: bytes) -> bool:
        digest = _digest(line)
        if digest not in self._seen:
            self._refresh()
        return digest in self._seen

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
