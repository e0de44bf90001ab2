"""Helpers for the producer integration tests: the CLI as a child process, a private broker,
and the worker's transport rule applied to what reached a topic."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from config import broker
from config.kafka import client_options
from config.settings import Settings
from schemas import packing
from schemas.raw import H_LINES, H_POS, MAX_PACKED_LINES
from tests.integration.conftest import REPO, _base_settings
from tests.integration.harness import settings_env

FAKE_CLI = REPO / "tests" / "fixtures" / "fake_cli.py"
SPENDSTREAM = [sys.executable, "-m", "spendstream.cli"]


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = settings_env(settings)
    env.pop("SPENDSTREAM_SESSION", None)
    env.pop("SPENDSTREAM_LINEAGE", None)
    env.update(extra)
    return env


def spendstream(
    settings: Settings, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[bytes]:
    """``spendstream ARGS`` as a child process with the test's settings."""
    return subprocess.run(
        [*SPENDSTREAM, *args],
        env=cli_env(settings, **extra),
        cwd=REPO,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class LineRecord:
    """One line of a raw record, as the single-line record it would have been unpacked."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int
    offset: int


def as_lines(record: Any) -> list[LineRecord]:
    """A raw record's lines, each with its own ``ss-pos`` and no ``ss-lines``."""
    values = packing.unpack(record.value, record.headers, max_items=MAX_PACKED_LINES)
    first = int(dict(record.headers)[H_POS])
    out = []
    for i, value in enumerate(values):
        position = str(first + i).encode()
        headers = [(k, position if k == H_POS else v) for k, v in record.headers if k != H_LINES]
        out.append(LineRecord(record.key, value, headers, record.partition, record.offset))
    return out


async def read_all(
    settings: Settings,
    *,
    expect_at_least: int,
    quiet_s: float = 2.0,
    wait_s: float = 90.0,
    packed: bool = False,
) -> list[Any]:
    """Every line of the raw topic (packed records unpacked; ``packed``: the records as they
    are): at least ``expect_at_least``, then until ``quiet_s`` bring none."""
    consumer = AIOKafkaConsumer(
        settings.topic("raw"),
        **client_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    loop = asyncio.get_running_loop()
    try:
        deadline, last_new = loop.time() + wait_s, loop.time()
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for message in messages:
                    records.extend([message] if packed else as_lines(message))
                last_new = loop.time()
            if len(records) >= expect_at_least and loop.time() - last_new > quiet_s:
                return records
    finally:
        await consumer.stop()
    raise TimeoutError(f"{len(records)} lines after {wait_s}s, expected at least {expect_at_least}")


async def spendstream_async(
    settings: Settings, *args: str, **extra: str
) -> subprocess.CompletedProcess[bytes]:
    """``spendstream ARGS`` as a child process, awaited without blocking the event loop."""
    return await asyncio.to_thread(spendstream, settings, *args, **extra)


def header(record: Any, name: str) -> str:
    return dict(record.headers)[name].decode()


def positions_by_stream(records: list[Any]) -> dict[str, list[int]]:
    """Each stream's positions in topic order (a stream lives in one partition)."""
    out: dict[str, list[int]] = defaultdict(list)
    for record in records:
        out[header(record, "ss-stream")].append(int(header(record, "ss-pos")))
    return dict(out)


def accepted_by_high_water(positions: list[int]) -> set[int]:
    """What the worker keeps: a position at or below the stream's high-water mark is dropped."""
    high, kept = 0, set()
    for position in positions:
        if position > high:
            kept.add(position)
            high = position
    return kept


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Settings]:
    """Settings for a second local broker on other ports, that a test may stop and start.

    The shared broker is never touched. The jars come from the shared state folder.
    """
    state = tmp_path / "private-broker"
    (state / "kafka").mkdir(parents=True)
    shared_libs = _base_settings().state_dir.resolve() / "kafka" / "libs"
    (state / "kafka" / "libs").symlink_to(shared_libs, target_is_directory=True)
    settings = Settings(
        broker=None,  # its own broker, whatever SPENDSTREAM_BROKER says
        state_dir=state,
        local_broker_port=free_port(),
        local_controller_port=free_port(),
        local_broker_heap="384m",
        topic_prefix=f"p{uuid.uuid4().hex[:10]}",
        spool_dir=tmp_path / "spool",
        runner_id="test-runner",
        producer_timeout_seconds=3.0,
        producer_retry_max_seconds=1.0,
    )
    broker.start(settings)
    try:
        yield settings
    finally:
        broker.stop(settings)
