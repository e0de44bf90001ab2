"""The stdout copy of `run`: byte for byte, line numbers, documents, a closed reader."""

from __future__ import annotations

import os
import threading
from typing import Any

from producers.passthrough import Document, Passthrough


def pump(
    chunks: list[bytes], *, document: bool = False, close_output: bool = False
) -> tuple[bytes, list[Any]]:
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    delivered: list[Any] = []
    copier = Passthrough(src_r, dst_w, delivered.append, document=document)
    copier.start()
    received: list[bytes] = []

    def read_all() -> None:
        while data := os.read(dst_r, 65536):
            received.append(data)

    reader = threading.Thread(target=read_all)
    if close_output:
        os.close(dst_r)
    else:
        reader.start()
    for chunk in chunks:
        os.write(src_w, chunk)
    os.close(src_w)
    copier.join(10)
    os.close(dst_w)
    if not close_output:
        reader.join(10)
        os.close(dst_r)
    os.close(src_r)
    return b"".join(received), delivered


def test_bytes_pass_unchanged_and_lines_keep_their_numbers() -> None:
    chunks = [b'{"a":1}\n{"b"', b":2}\r\n\n", b"plain\n", b"no newline at the end"]
    out, delivered = pump(chunks)
    assert out == b"".join(chunks)
    lines = [item for batch in delivered for item in batch]
    assert lines == [(1, b'{"a":1}'), (2, b'{"b":2}'), (3, b""), (4, b"plain"), (5, b"no newline at the end")]


def test_document_mode_delivers_the_whole_output_once() -> None:
    chunks = [b'{\n  "stats": ', b'{"models": {}}\n}\n']
    out, delivered = pump(chunks, document=True)
    assert out == b"".join(chunks)
    assert delivered == [Document(b"".join(chunks), truncated=False)]


def test_a_closed_reader_does_not_stop_the_lines() -> None:
    chunks = [b"x" * 100_000 + b"\n", b'{"type":"result"}\n']
    _, delivered = pump(chunks, close_output=True)
    assert [item for batch in delivered for item in batch][-1] == (2, b'{"type":"result"}')
