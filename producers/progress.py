"""Progress of a backfill on stderr: files, lines, bytes/s while it runs, a summary at the end.

On a terminal the line is redrawn in place a few times a second; otherwise (CI logs) a
plain line is printed every few seconds so logs stay short.
"""

from __future__ import annotations

import time
from typing import TextIO


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GB"


class Progress:
    """Throttled progress line; ``enabled=False`` makes every call a no-op."""

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.interactive = enabled and stream.isatty()
        self.interval = 0.25 if self.interactive else 5.0
        self.started = time.monotonic()
        self._last = self.started
        self._drawn = False

    def rate(self, amount: float) -> float:
        return amount / max(time.monotonic() - self.started, 1e-9)

    def describe(self, files: int, lines: int, nbytes: int) -> str:
        return (
            f"{files} files, {lines} lines, {_size(nbytes)} "
            f"({self.rate(lines):,.0f} lines/s, {_size(self.rate(nbytes))}/s)"
        )

    def update(self, files: int, lines: int, nbytes: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < self.interval:
            return
        self._last = now
        text = self.describe(files, lines, nbytes)
        if self.interactive:
            self.stream.write(f"\r\x1b[2K{text}")
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, summary: str) -> None:
        if not self.enabled:
            return
        if self._drawn:
            self.stream.write("\r\x1b[2K")
        self.stream.write(summary + "\n")
        self.stream.flush()
