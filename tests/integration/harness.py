"""Helpers for integration tests on the real broker: workers, topic readers, lake polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from config.kafka import client_options
from config.settings import Settings
from sinks.catalog import run_query
from spendstream.worker import build_worker_app


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, **overrides: Any) -> AsyncIterator[faust.App]:
    """A worker (Faust app + lake sink) running on the test's event loop."""
    app = build_worker_app(settings, **overrides)
    app.loop = asyncio.get_running_loop()
    app.finalize()
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that makes a child process build the same settings."""
    # SPENDSTREAM_CACHE_DIR is no setting: the test session's price cache (tests/conftest.py)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SPENDSTREAM_") or k == "SPENDSTREAM_CACHE_DIR"
    }
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        secret = getattr(settings, name)
        if isinstance(secret, SecretStr):  # model_dump masks secrets
            value = secret.get_secret_value()
        env[f"SPENDSTREAM_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


class WorkerProcess:
    """``spendstream worker`` as a child process, so a test can SIGKILL it."""

    def __init__(self, settings: Settings, log_path: Path, *extra_args: str) -> None:
        self.settings = settings
        self.log_path = log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "spendstream.cli", "worker", *self.extra_args],
                env=settings_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def raw_partitions(self) -> set[int]:
        """Partitions of the raw topic in this worker's latest assignment (from its log)."""
        return raw_partitions_in_log(self.log_path, self.settings.topic("raw"), self.settings.topic_prefix)


def raw_partitions_in_log(log_path: Path, raw_topic: str, prefix: str) -> set[int]:
    """Partitions of ``raw_topic`` in the latest assignment a worker of ``prefix`` logged."""
    if not log_path.exists():
        return set()
    text = log_path.read_text(errors="replace")
    topic = re.escape(raw_topic)
    blocks = text.split("Setting newly assigned partitions")
    for block in reversed(blocks[1:]):
        if "for group " + prefix + "-worker " not in block:
            continue
        match = re.search(rf"\|\s*{topic}\s*\|\s*\{{([^}}]*)\}}", block)
        return _partition_set(match.group(1)) if match else set()
    return set()


def _partition_set(text: str) -> set[int]:
    """Faust prints partition sets like ``0-1, 3``."""
    result: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            low, high = part.split("-")
            result.update(range(int(low), int(high) + 1))
        elif part:
            result.add(int(part))
    return result


async def wait_until_shared(workers: list[WorkerProcess], partitions: int, wait_s: float = 90.0) -> None:
    """Wait until every worker holds some raw partitions and together they hold all."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while asyncio.get_running_loop().time() < deadline:
        sets = [w.raw_partitions() for w in workers]
        if all(sets) and set().union(*sets) == set(range(partitions)) and sum(map(len, sets)) == partitions:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"partitions never spread over the workers: {[w.raw_partitions() for w in workers]}")


class TopicTimeout(TimeoutError):
    """``read_topic``'s condition never held; ``records`` is everything read meanwhile."""

    def __init__(self, message: str, records: list[Any]) -> None:
        super().__init__(message)
        self.records = records


async def read_topic(
    settings: Settings, topic: str, *, until: Callable[[list[Any]], bool], wait_s: float = 60.0
) -> list[Any]:
    """All committed records of a topic from the start, read until ``until(records)`` holds."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + wait_s
        while not until(records):
            if asyncio.get_running_loop().time() > deadline:
                message = f"{topic}: condition not met after {wait_s}s ({len(records)} records)"
                raise TopicTimeout(message, records)
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
    finally:
        await consumer.stop()
    return records


async def wait_for_query(
    settings: Settings, sql: str, *, until: Callable[[list[tuple[Any, ...]]], bool], wait_s: float = 60.0
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` over the test's lake once ``until(rows)`` holds."""
    deadline = asyncio.get_running_loop().time() + wait_s
    rows: list[tuple[Any, ...]] = []
    while asyncio.get_running_loop().time() < deadline:
        _, rows = await asyncio.to_thread(run_query, settings.data_dir, sql)
        if until(rows):
            return rows
        await asyncio.sleep(0.25)
    raise TimeoutError(f"lake query did not converge after {wait_s}s; last rows: {rows!r}")


def latest_totals(records: list[Any]) -> dict[str, dict[str, Any]]:
    """Each scope's totals record with the highest version (the topic's contract)."""
    latest: dict[str, dict[str, Any]] = {}
    for message in records:
        if message.value is None:
            continue
        record = orjson.loads(message.value)
        if record["version"] > latest.get(record["scope"], {"version": -1})["version"]:
            latest[record["scope"]] = record
    return latest


def has_events(expected: dict[str, int]) -> Callable[[list[Any]], bool]:
    """``read_topic``'s condition: every scope's latest totals count its expected events."""

    def done(records: list[Any]) -> bool:
        latest = latest_totals(records)
        return all(latest.get(scope, {}).get("own", {}).get("events") == n for scope, n in expected.items())

    return done
