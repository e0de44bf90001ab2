"""One worker, then two (partitions move mid-stream), then one again: exact totals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from config.settings import Settings
from tests.integration.convergence import converged_totals, lake_matches
from tests.integration.harness import wait_until_shared
from tests.integration.workload import build_workload
from tests.reliability.faults import (
    FULL,
    assert_alive,
    on_free_port,
    publish_wave,
    run_rng,
    waves,
    worker_process,
)

pytestmark = pytest.mark.reliability

CYCLES = 2 if FULL else 1


async def test_one_to_two_workers_and_back_mid_stream_ends_exact(topics: Settings, tmp_path: Path) -> None:
    rng, topics = run_rng(), on_free_port(topics)
    workload = build_workload(seed=73, roots=6 if FULL else 3, runs=4 if FULL else 3)
    parts = waves(workload, 2 * CYCLES + 1)
    second_settings = on_free_port(topics)
    with worker_process(topics, tmp_path / "worker-1.log") as first:
        await publish_wave(topics, parts[0], tmp_path / "in", 0)
        for cycle in range(CYCLES):
            # 1 -> 2: the second worker joins while a wave is published; partitions move.
            publishing = asyncio.ensure_future(
                publish_wave(topics, parts[1 + 2 * cycle], tmp_path / "in", 1 + 2 * cycle)
            )
            with worker_process(second_settings, tmp_path / f"worker-2.{cycle}.log") as second:
                await wait_until_shared([first, second], topics.partitions)
                await publishing
                # 2 -> 1: the second worker leaves (SIGTERM) at a random point of the next wave.
                publishing = asyncio.ensure_future(
                    publish_wave(topics, parts[2 + 2 * cycle], tmp_path / "in", 2 + 2 * cycle)
                )
                await asyncio.sleep(rng.uniform(0.2, 3.0))
                assert_alive(second)
            await publishing
            await wait_until_shared([first], topics.partitions)
        latest = await converged_totals(topics, workload, wait_s=180)
        await lake_matches(topics, workload, wait_s=120)
        assert_alive(first)
    assert set(latest) == set(workload.expected)
