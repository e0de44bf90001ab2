"""Two workers join a new consumer group at once while usage is being published: exact.

Before their first commit a rebalance moves partitions; one then has no committed offset
and is read from its log start. Faust 0.15.3 can skip records while a rebalance stops its
flow: the order check (streams/order.py) used to take the first record received as the
start, so a skipped head was lost (4-7 of 682 sessions in 2 of 5 runs of
`python -m bench.ccusage_compare --modes pipeline --pipeline-workers 2`). Now it expects the
log start, the worker stops, its supervisor restarts it and the head is replayed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from config.settings import Settings
from tests.integration.convergence import converged_totals, lake_matches
from tests.integration.workload import build_workload
from tests.reliability.faults import on_free_port, publish_wave, worker_process

pytestmark = pytest.mark.reliability


async def test_two_workers_started_together_while_publishing_end_exact(
    topics: Settings, tmp_path: Path
) -> None:
    workload = build_workload(seed=79, roots=3, runs=3)
    publishing = asyncio.ensure_future(publish_wave(topics, workload, tmp_path / "in", 0))
    with (
        worker_process(on_free_port(topics), tmp_path / "worker-1.log"),
        worker_process(on_free_port(topics), tmp_path / "worker-2.log"),
    ):
        await publishing
        latest = await converged_totals(topics, workload, wait_s=180)
        await lake_matches(topics, workload, wait_s=120)
    assert set(latest) == set(workload.expected)
