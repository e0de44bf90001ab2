"""Publish CLI output lines to the raw topic, one record per line, byte for byte.

Each line carries its stream id and 1-based position as headers, so the worker can tell a
re-published line from a new one. The producer is idempotent with ``acks=all``.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from aiokafka import AIOKafkaProducer

from schemas.raw import MAX_LINE_BYTES, RawLineMeta
from spendstream.kafka import RAW, client_options, ensure_topics
from spendstream.settings import Settings


@dataclass(frozen=True)
class PublishRequest:
    """What to publish and how to describe it; ``paths`` of ``-`` means standard input."""

    paths: tuple[str, ...]
    source: str
    lineage: tuple[str, ...] = ()
    session_hint: str | None = None
    labels: Mapping[str, str] | None = None


@dataclass
class PublishSummary:
    files: int = 0
    lines: int = 0
    bytes: int = 0
    skipped_blank: int = 0


def iter_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its newline); blank lines keep their number."""
    for number, line in enumerate(stream, start=1):
        yield number, line.rstrip(b"\r\n")


def stream_id_for(settings: Settings, path: str) -> str:
    if path == "-":
        # Standard input has no stable name: each invocation is its own stream.
        return f"{settings.runner_id}:stdin:{uuid.uuid4().hex}"
    return f"{settings.runner_id}:{Path(path).resolve()}"


def make_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(settings),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=MAX_LINE_BYTES + 64 * 1024,
        request_timeout_ms=30_000,
    )


async def _open_sources(paths: tuple[str, ...]) -> AsyncIterator[tuple[str, BinaryIO]]:
    for path in paths:
        if path == "-":
            yield path, sys.stdin.buffer
        else:
            with Path(path).open("rb") as handle:
                yield path, handle


async def publish(settings: Settings, request: PublishRequest) -> PublishSummary:
    """Publish every non-blank line of the given files; returns what was sent."""
    await ensure_topics(settings, (RAW,))
    topic = settings.topic(RAW)
    producer = make_producer(settings)
    summary = PublishSummary()
    await producer.start()
    try:
        async for path, handle in _open_sources(request.paths):
            summary.files += 1
            stream_id = stream_id_for(settings, path)
            for position, line in iter_lines(handle):
                if not line.strip():
                    summary.skipped_blank += 1
                    continue
                meta = RawLineMeta(
                    source=request.source,
                    runner_id=settings.runner_id,
                    stream_id=stream_id,
                    position=position,
                    published_at=datetime.now(UTC),
                    lineage=request.lineage,
                    session_hint=request.session_hint,
                    labels=request.labels,
                )
                await producer.send(topic, line, key=stream_id.encode("utf-8"), headers=meta.headers())
                summary.lines += 1
                summary.bytes += len(line)
        await producer.flush()
    finally:
        await producer.stop()
    return summary
