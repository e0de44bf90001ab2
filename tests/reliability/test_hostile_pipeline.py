"""Hostile records through the real pipeline: the worker keeps running, every line is
accounted for (GET /metrics), every bad line is a dead letter with its bytes and reason,
the good results' totals stay exact, and the worker's memory stays bounded."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from config.kafka import client_options
from config.settings import Settings
from schemas.deadletter import H_REASON
from schemas.raw import MAX_LINE_BYTES
from tests.integration.convergence import converged_totals, lake_matches
from tests.integration.harness import read_topic
from tests.reliability.faults import (
    FULL,
    assert_alive,
    on_free_port,
    pid_of,
    rss_kib,
    wait_for_metrics,
    worker_process,
)
from tests.reliability.hostile import RawRecord, build_hostile_stream

pytestmark = pytest.mark.reliability

GROUPS, BIG_LINES = (1500, 200) if FULL else (150, 20)
# Generous: the worker holds one batch and one stream state per stream, not the stream.
RSS_GROWTH_LIMIT_KIB = 200 * 1024


async def produce(settings: Settings, records: list[RawRecord]) -> None:
    producer = AIOKafkaProducer(**client_options(settings), max_request_size=MAX_LINE_BYTES, linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(settings.topic("raw"), r.value, key=r.key, headers=r.headers) for r in records
        ]
        for future in sent:
            await future
    finally:
        await producer.stop()


async def test_hostile_records_are_all_accounted_for_and_memory_stays_bounded(
    topics: Settings, tmp_path: Path
) -> None:
    settings = on_free_port(topics)
    warmup = build_hostile_stream(1, groups=5, big_lines=1)
    stream = build_hostile_stream(2, groups=GROUPS, big_lines=BIG_LINES)
    with worker_process(settings, tmp_path / "worker.log") as worker:
        await produce(settings, warmup.records)
        await wait_for_metrics(settings, warmup.expected.lines)
        before = rss_kib(pid_of(worker))
        await produce(settings, stream.records)
        lines = warmup.expected.lines + stream.expected.lines
        metrics = await wait_for_metrics(settings, lines, wait_s=600 if FULL else 180)
        after = rss_kib(pid_of(worker))
        expected_kinds = warmup.expected.kinds + stream.expected.kinds
        # raw lines = usage + no_usage + duplicate + dead, kind by kind as the pure step says
        assert Counter(metrics["records"]) == expected_kinds
        assert sum(metrics["records"].values()) == lines
        assert stream.expected.kinds["usage"] == GROUPS  # no hostile line became usage
        expected_dead = Counter(warmup.expected.dead + stream.expected.dead)

        def all_dead(records: list[Any]) -> bool:
            return len(records) >= sum(expected_dead.values())

        dead = await read_topic(settings, settings.topic("deadletter"), until=all_dead, wait_s=120)
        got = Counter((r.value or b"", dict(r.headers)[H_REASON].decode()) for r in dead)
        assert got == expected_dead
        both = warmup.workload
        both.expected.update(stream.workload.expected)
        await converged_totals(settings, both, wait_s=120)
        await lake_matches(settings, both, wait_s=120)
        assert_alive(worker)
    growth = after - before
    print(
        f"hostile: {len(stream.records)} records, {stream.expected.lines} lines "
        f"({dict(stream.expected.kinds)}), {BIG_LINES} lines of 900 KiB; "
        f"worker RSS {before} KiB -> {after} KiB (+{growth} KiB)"
    )
    assert growth < RSS_GROWTH_LIMIT_KIB
