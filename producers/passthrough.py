"""Copy a child's stdout to ours byte for byte, and hand its lines to the publisher.

Lines are claimed (producers/claims.py) before their bytes are written, when this run
runs inside another one.

A plain thread with blocking reads and writes: the copy never waits for Kafka, the event
loop or the spool, so wrapping a command cannot slow its output. Lines are handed over
in batches (one per read) through ``deliver``; in document mode (a CLI that prints one
pretty-printed JSON document) the whole output is handed over once, at the end.

If our stdout is closed early (``spendstream run ... | head -1``) the copy stops but the
reading goes on: the usage lines come last, and losing them would lose the run's cost.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

_READ_SIZE = 64 * 1024
_MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Document:
    """The whole output of a document-mode CLI (``truncated`` beyond 64 MiB)."""

    data: bytes
    truncated: bool


Lines = list[tuple[int, bytes]]
Delivery = Lines | Document


class Passthrough(threading.Thread):
    """Reads ``src_fd`` to its end; writes every byte to ``dst_fd``; delivers lines."""

    def __init__(
        self,
        src_fd: int,
        dst_fd: int,
        deliver: Callable[[Delivery], None],
        *,
        document: bool = False,
        claim: Callable[[list[bytes]], None] | None = None,
    ) -> None:
        super().__init__(name="spendstream-passthrough", daemon=True)
        self.src_fd = src_fd
        self.dst_fd = dst_fd
        self.deliver = deliver
        self.document = document
        self.claim = claim
        self.output_closed = False
        self.bytes = 0
        self._pending = b""
        self._lines = 0
        self._doc: list[bytes] = []
        self._doc_size = 0

    def _write(self, chunk: bytes) -> None:
        if self.output_closed:
            return
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self.dst_fd, view) :]
        except BrokenPipeError:
            self.output_closed = True
        except OSError:
            self.output_closed = True

    def _split(self, chunk: bytes) -> Lines:
        parts = (self._pending + chunk).split(b"\n")
        self._pending = parts.pop()
        batch = []
        for line in parts:
            self._lines += 1
            batch.append((self._lines, line.rstrip(b"\r")))
        return batch

    def _keep_document(self, chunk: bytes) -> None:
        if self._doc_size < _MAX_DOCUMENT_BYTES:
            self._doc.append(chunk)
        self._doc_size += len(chunk)

    def _safe_deliver(self, item: Delivery) -> None:
        # The consumer may be gone (publishing failed or the loop ended): the copy goes on.
        with contextlib.suppress(Exception):
            self.deliver(item)

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.src_fd, _READ_SIZE)
            except OSError:
                break
            if not chunk:
                break
            self.bytes += len(chunk)
            batch = self._split(chunk)
            if batch and self.claim is not None:
                # Before the bytes go out: a parent run reading them must find the claim.
                self.claim([line for _, line in batch])
            self._write(chunk)
            if self.document:
                self._keep_document(chunk)
            elif batch:
                self._safe_deliver(batch)
        self._finish()

    def _finish(self) -> None:
        last: Lines = []
        if self._pending:
            # The writer has ended, so an unterminated last line is complete.
            self._lines += 1
            last = [(self._lines, self._pending.rstrip(b"\r"))]
            if self.claim is not None:
                self.claim([last[0][1]])
        if self.document:
            data = b"".join(self._doc)
            self._safe_deliver(Document(data, truncated=self._doc_size > len(data)))
        elif last:
            self._safe_deliver(last)
