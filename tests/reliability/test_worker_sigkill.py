"""A worker SIGKILLed at random points, again and again, still ends with exact totals."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import Settings
from tests.integration.convergence import converged_totals, lake_matches
from tests.integration.workload import build_workload
from tests.reliability.faults import (
    FULL,
    assert_alive,
    on_free_port,
    publish_wave,
    run_rng,
    waves,
    worker_log_on_failure,
    worker_process,
)

pytestmark = pytest.mark.reliability

KILLS = 6 if FULL else 2


async def test_worker_sigkilled_at_random_points_ends_exact(topics: Settings, tmp_path: Path) -> None:
    rng, topics = run_rng(), on_free_port(topics)
    workload = build_workload(seed=71, roots=6 if FULL else 3, runs=5 if FULL else 3)
    parts = waves(workload, KILLS + 1)
    with worker_process(topics, tmp_path / "worker.log") as worker:
        for index, wave in enumerate(parts[:-1]):
            # Each kill lands while a wave is being published and processed (or while the
            # previous restart is still recovering): anywhere in a batch, or between two.
            publishing = asyncio.ensure_future(publish_wave(topics, wave, tmp_path / "in", index))
            await asyncio.sleep(rng.uniform(0.5, 6.0))
            worker.kill()
            worker.start()
            await publishing
        await publish_wave(topics, parts[-1], tmp_path / "in", len(parts) - 1)
        with worker_log_on_failure(worker):
            latest = await converged_totals(topics, workload, wait_s=240)
            await lake_matches(topics, workload, wait_s=120)
        assert_alive(worker)
    assert len(parts) - 1 == KILLS >= (5 if FULL else 2)
    assert sum((r.own.cost_usd for r in latest.values()), Decimal(0)) == workload.total_cost
